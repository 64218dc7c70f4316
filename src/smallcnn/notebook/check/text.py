"""Reading the written answers for `smallcnn check`: the sub-answers (a), (b), (c), their sentences, and what
Part 1's (a) says about the methods of Table 3.

Markdown is read as a TA reads it: a table row or a heading is no sentence, a bullet ends one, "e.g." or
"89.7 %" does not. Claims about Table 3 are read conservatively: a clause counts only when it names a method,
says better or worse once, without a negation, and its grammar says who is better than whom.
"""

import re

from smallcnn.notebook.check.cells import shorten

ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "et al.", "cf.", "approx.", "fig.", "eq.", "no.", "resp.", "incl.",
                 "w.r.t.", "a.k.a.", "dr.", "prof.", "sec.")
MIN_WORDS = 3  # a sentence has at least three words: "SVC: 89.7%." is a fragment
LINE_MARKER = re.compile(r"^[\s>#*_\-]*(?:(?:part|question|q|answer|ans)\.?\s*)?(?:\d+\s*)?[(\[]?\s*([abcABC])\s*"
                         r"(?:[)\]]|[.:](?=[\s*_]))", re.MULTILINE | re.IGNORECASE)
INLINE_MARKER = re.compile(r"(?<![\w(])\(([abcABC])\)")


# --- markdown to sentences -------------------------------------------------------------------------

def blocks(markdown: str) -> list[tuple[str, str]]:
    """[(kind, text)] of a markdown cell: "heading", "bullet" or "text" (a paragraph), markup and HTML tags,
    links' targets and LaTeX dollars removed; table rows are left out."""
    text = re.sub(r"<[^>]+>", " ", markdown)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links and images: their text
    text = text.replace("$", "").replace("\\%", "%")
    found, paragraph = [], []

    def close():
        found.append(("text", " ".join(paragraph)))
        paragraph.clear()

    for line in text.splitlines():
        stripped = line.strip()
        bullet = re.match(r"([-*+]|\d+[.)])\s+(.*)", stripped)
        if stripped and not stripped.startswith(("|", "#")) and not bullet:
            paragraph.append(stripped)
            continue
        close()
        if bullet:
            found.append(("bullet", bullet[2]))
        elif stripped.startswith("#"):
            found.append(("heading", stripped.lstrip("#").strip()))
    close()
    unmarked = ((kind, re.sub(r"\*\*|__|(?<!\w)[*_]|[*_](?!\w)|`", "", block).strip()) for kind, block in found)
    return [(kind, block) for kind, block in unmarked if block]


def split_sentences(text: str) -> list[str]:
    """One block's text cut at each sentence end: not after an abbreviation, nor inside a number like 89.7."""
    text = text if text.endswith((".", "!", "?", ":")) else text + "."  # a paragraph or bullet ends a sentence
    for abbreviation in ABBREVIATIONS:  # their full stops end no sentence
        text = re.sub(r"(?<!\w)" + re.escape(abbreviation), abbreviation.replace(".", "\0"), text, flags=re.IGNORECASE)
    return [piece.replace("\0", ".").strip() for piece in re.split(r"(?<=[.!?])[\"')\]]*\s+", text) if piece.strip()]


def sentences(markdown: str) -> list[str]:
    """The sentences of a markdown text (headings and table rows are none), fragments of fewer than MIN_WORDS
    words left out."""
    return [sentence for kind, block in blocks(markdown) if kind != "heading" for sentence in split_sentences(block)
            if len(re.findall(r"[A-Za-z][A-Za-z'-]*", sentence)) >= MIN_WORDS]


def split_answers(text: str, letters: str) -> dict[str, str]:
    """{letter: its answer text} for the letters whose marker is found: `(a)`, `**(a)**`, `a)`, `8(a)`, `**a.**`,
    `Part (a)`, `### (b)`... Markers at the start of a line are preferred to ones inside the text."""
    best = {}
    for pattern in (LINE_MARKER, INLINE_MARKER):
        found, start = [], 0
        for letter in letters:
            match = next((m for m in pattern.finditer(text, start) if m[1].lower() == letter), None)
            if match is None:
                break
            found.append((letter, match.start(), match.end()))
            start = match.end()
        if len(found) > len(best):
            ends = [begin for _, begin, _ in found[1:]] + [len(text)]
            best = {letter: text[end:stop] for (letter, _, end), stop in zip(found, ends)}
    return best


# --- Table 3 ---------------------------------------------------------------------------------------

# Names and aliases of Table 3's classifiers; the more specific come first, and each match is blanked out
# before the next pattern looks ("linear SVM" is LinearSVC, never also SVC).
ALIASES = (
    ("LinearSVC", r"linear\s*sv[cm]s?|linear support vector \w+"),
    ("SVC", r"\bsvcs?\b|\bsvms?\b|support vector \w+|\brbf\b"),
    ("MLPClassifier", r"\bmlp(?:classifier)?s?\b|multi-?\s?layer perceptrons?"),
    ("PassiveAggressiveClassifier", r"passive[\s-]?aggressive(?:classifier)?"),
    ("Perceptron", r"\bperceptrons?\b"),
    ("GradientBoostingClassifier", r"gradient[\s-]?boost\w*"),
    ("RandomForestClassifier", r"random[\s-]?forests?(?:classifier)?"),
    ("KNeighborsClassifier", r"\bk-?nns?\b|\bk-?\s?nearest[\s-]neighbou?rs?\w*|\bkneighbors\w*|nearest[\s-]neighbou?r"),
    ("LogisticRegression", r"logistic[\s-]?regression"),
    ("SGDClassifier", r"sgd[\s-]?classifier"),
    ("ExtraTreeClassifier", r"extra[\s-]?trees?(?:classifier)?|extremely randomi[sz]ed trees?"),
    ("DecisionTreeClassifier", r"decision[\s-]?trees?(?:classifier)?"),
    ("GaussianNB", r"gaussian[\s-]?nb|na[iï]ve[\s-]bayes"),
)
BETTER = r"better|higher|outperform\w*|beats?|beating|surpass\w*|exceed\w*|superior|above|stronger|more accurate|best"
WORSE = r"worse|lower|below|underperform\w*|inferior|weaker|less accurate|behind|trails?|falls? short|worst"
POLARITY = re.compile(rf"\b(?:(?P<better>{BETTER})|(?P<worse>{WORSE}))\b", re.IGNORECASE)
PASSIVE = re.compile(r"\b(?:outperformed|beaten|surpassed|exceeded)\s+by\b", re.IGNORECASE)
DOUBT = re.compile(r"\b(?:not|no|none|neither|nor|never|without)\b|n't\b|\berror|\bloss", re.IGNORECASE)
SELF = re.compile(r"\b(?:my|our)\s+(?:own\s+)?(?:small\s*)?(?:\w+\s+)?(?:cnn|model|network|method|approach|result|"
                  r"implementation|architecture|net|accuracy|score)s?\b|\bmine\b|\bours\b|\bcnns?\b", re.IGNORECASE)
COMPARED = re.compile(r"\b(?:compared (?:to|with)|relative to|against|versus|vs\.?)\s*(?:the\s+)?$", re.IGNORECASE)
CLAUSE_BREAK = re.compile(r";|,\s*(?:and|but)\s|\s(?:while|whereas|but|although|though)\s", re.IGNORECASE)


def mentions(clause: str) -> list[tuple[int, str]]:
    """[(position, classifier)] of the Table 3 methods a clause names, in order."""
    found, text = [], clause
    for classifier, pattern in ALIASES:
        for match in re.finditer(pattern, text, re.IGNORECASE):
            found.append((match.start(), classifier))
        text = re.sub(pattern, lambda m: " " * len(m[0]), text, flags=re.IGNORECASE)
    return sorted(found)


def clause_claims(clause: str) -> list[tuple[str, str]]:
    """[(classifier, "better" or "worse" than the student's model)] that one clause states unambiguously."""
    methods = mentions(clause)
    polarities = {"better" if m["better"] else "worse" for m in POLARITY.finditer(clause)}
    if not methods or len(polarities) != 1 or DOUBT.search(clause):
        return []
    polarity = polarities.pop()
    word = POLARITY.search(clause).start()
    if PASSIVE.search(clause):
        polarity = {"better": "worse", "worse": "better"}[polarity]
    selves = [m.start() for m in SELF.finditer(clause)]
    before = max([(p, "self") for p in selves if p < word] + [(p, "method") for p, _ in methods if p < word],
                 default=(None, None))[1]
    than = re.search(r"\bthan\b", clause[word:], re.IGNORECASE)
    target = None
    if than:
        after_than = word + than.end()
        nearest = min([(p, "self") for p in selves if p >= after_than] +
                      [(p, "method") for p, _ in methods if p >= after_than], default=(None, None))
        target = nearest[1]
    flipped = {"better": "worse", "worse": "better"}[polarity]
    if target == "self":  # "SVC performs better than my CNN", "better than mine: SVC"
        return [(name, polarity) for p, name in methods]
    if target == "method":  # "my CNN / it is better than KNN"; "SVC is better than KNN" says nothing of mine
        return [] if before == "method" else [(name, flipped) for p, name in methods if p > word]
    if before == "self":  # "my CNN outperforms KNN"; "compared to SVC, my CNN is worse"
        me = max(p for p in selves if p < word)
        return [(name, flipped) for p, name in methods if p > word or (p < me and COMPARED.search(clause[:p]))]
    if before == "method":  # "SVC performs better"
        return [(name, polarity) for p, name in methods if p < word]
    return [(name, polarity) for p, name in methods]  # "Worse: KNN, logistic regression"


def table3_claims(markdown: str) -> list[tuple[str, str, str]]:
    """[(sentence, classifier, "better" or "worse")] for what an answer says of Table 3's methods. A bullet
    without a comparison of its own takes its list's lead-in ("Worse than my CNN:", a heading)."""
    claims, lead_in = [], ""
    for kind, block in blocks(markdown):
        if kind != "bullet":
            lead_in = block if kind == "heading" or block.endswith(":") else ""
        for sentence in split_sentences(block):
            read = f"{lead_in} {sentence}" if kind == "bullet" and not POLARITY.search(sentence) else sentence
            for clause in CLAUSE_BREAK.split(read):
                claims += [(sentence, name, polarity) for name, polarity in dict.fromkeys(clause_claims(clause))]
    return claims


def contradictions(markdown: str, rows: dict[str, float], figure: float) -> list[str]:
    """The claims Table 3 contradicts, given the student's test accuracy `figure` (in %): a method called worse
    that Table 3 puts above it, or the reverse. Within 0.1 point (Table 3's precision) is a tie, never wrong."""
    found = []
    for sentence, name, polarity in table3_claims(markdown):
        value = 100 * rows[name]
        wrong = value < figure - 0.1 if polarity == "better" else value > figure + 0.1
        if wrong:
            side = "below" if polarity == "better" else "above"
            found.append((shorten(sentence, 60), f"calls {name} {polarity}, but Table 3's {value:.1f}% is {side} "
                                    f"the printed {figure:.2f}%"))
    return [f'"{sentence}": {reason}' for sentence, reason in dict.fromkeys(found)]
