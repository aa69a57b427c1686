"""The bundled offline example: fictional municipal, borger.dk-like and selvbetjening.nu-like sites."""
