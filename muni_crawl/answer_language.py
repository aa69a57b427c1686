"""The one sentence that tells a citizen, in their own language, that the answer below is Danish.

Without an LLM an answer is the municipality's own (Danish) text. A citizen who asked in
another language is told so before it, in the language they wrote in, so that the Danish
text does not look like a misunderstanding. Swedish and Norwegian questions get the sentence
too: they read Danish well, but the answer's language still differs from theirs, and the
chatbot shows the same courtesy to everyone. (Questions whose Swedish or Norwegian is close
enough to Danish are detected as Danish and get no intro.) A language without a template
here gets the English sentence, the most widely read second language among newcomers.
"""

from __future__ import annotations

# One sentence each, written for this purpose (not machine-translated): "The municipality's
# information is in Danish; this is what it says:". The extract follows it.
DANISH_SOURCE_INTRO: dict[str, str] = {
    "en": "The municipality's information is in Danish; this is what it says:",
    "de": "Die Informationen der Gemeinde liegen auf Dänisch vor; dort heißt es:",
    "pl": "Informacje gminy są dostępne w języku duńskim; oto, co w nich napisano:",
    "uk": "Інформація муніципалітету доступна данською мовою; ось що в ній сказано:",
    "ru": "Информация муниципалитета доступна на датском языке; вот что в ней сказано:",
    "ar": "معلومات البلدية متوفرة باللغة الدنماركية، وإليك ما ورد فيها:",
    "tr": "Belediyenin bilgileri Danca olarak sunulmaktadır; metinde şöyle yazıyor:",
    "so": "Macluumaadka kommuunka waxaa lagu qoray af-Deenish; waa kan qoraalka:",
    "ro": "Informațiile municipalității sunt în limba daneză; iată ce scrie acolo:",
    "lt": "Savivaldybės informacija pateikiama danų kalba; štai kas joje parašyta:",
    "sv": "Kommunens information finns på danska; så här står det:",
    "no": "Kommunens informasjon er på dansk; her er hva den sier:",
    "fr": "Les informations de la commune sont en danois ; voici ce qu'elles indiquent :",
    "es": "La información del municipio está en danés; esto es lo que dice:",
}
FALLBACK = "en"


def danish_source_intro(question_language: str) -> str | None:
    """The intro for a Danish answer to a question in `question_language`; None for Danish."""
    if question_language == "da":
        return None
    return DANISH_SOURCE_INTRO.get(question_language, DANISH_SOURCE_INTRO[FALLBACK])


def introduce(text: str, *, question_language: str, text_language: str) -> str:
    """`text` with the intro in front when it is Danish and the question was not."""
    if text_language != "da":
        return text
    intro = danish_source_intro(question_language)
    return f"{intro} {text}" if intro else text
