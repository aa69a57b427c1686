"""The bundled offline example: fictional municipal, borger.dk- and selvbetjening.nu-like sites."""
