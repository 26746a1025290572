"""The trained part of reading: a spaCy span categoriser beside the lexicon.

The lexicon finds the words it was given. This model is trained, when the pipeline is built,
on what the lexicon finds in sentences (the project's NLU examples, and every lexicon phrase in
a few everyday carrier sentences, with typo'd copies), with spaCy's hashed features of each
word's dictionary form, prefix, suffix and shape. It can therefore propose a mention the
lexicon does not hold: another inflection, a misspelling the typo step left alone, a drug name
that shares its family's ending ("edoxaban" with apixaban and rivaroxaban).

What it proposes is used with care (actions.nlu.facts): a proposal only fills a gap the lexicon
left (never overrides it), is scoped by the same ConText rules, and a health fact it proposes
is "unknown": the assistant asks about it, and a guess is never taken as a yes or a no.

`scripts/eval_messages.py --fast --ablate statistical` measures what it brings.
"""
import functools
import random
from typing import Any, Dict, Iterable, List, Sequence, Tuple

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Example

SPANS_KEY = "statistical"
THRESHOLD = 0.6
EPOCHS = 12
SEED = 7
# the lexicon's sections the model learns (labels are "SECTION|id")
LEARNED = ("FACT", "CONCERN", "AREA", "PROCEDURE", "RED_FLAG")

# everyday sentences a lexicon phrase is put into ({} is the phrase)
CARRIERS = {
    "FACT": ["{}", "I have {}", "yes {}", "I'm on {} at the moment", "I take {} every day",
             "diagnosed with {} a few years ago", "no {} here", "I don't have {}",
             "not sure about {}", "my doctor put me on {}", "been dealing with {} since march",
             "only the {} but the rest is fine", "had {} as a kid", "currently {} and 32"],
    "CONCERN": ["{}", "I want to fix my {}", "mainly for {}", "any help with {}?",
                "the {} on my face bother me", "would it work on {}", "trying to get rid of {}"],
    "AREA": ["{}", "on my {}", "just the {}", "the {} mostly", "around the {} area",
             "would a roller be ok for my {}", "both {} please"],
    "PROCEDURE": ["{}", "had {} three weeks ago", "got {} done in march", "no {} this year",
                  "my last {} was in june", "{} before the wedding"],
    "RED_FLAG": ["{}", "since yesterday there is {}", "day two and I have {}",
                 "after rolling last night {}", "now there's {} and it's getting worse",
                 "is {} normal after needling?"],
}


def _typo(word: str, rng: random.Random) -> str:
    """One slip of the fingers: a letter dropped, doubled or swapped."""
    if len(word) < 6:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        return word[:i] + word[i + 1:]
    if kind == 1:
        return word[:i] + word[i] + word[i:]
    return word[:i - 1] + word[i] + word[i - 1] + word[i + 1:]


def carrier_sentences(lexicon: Dict[str, Any], sections: Dict[str, str],
                      rng: random.Random) -> List[str]:
    """Every lexicon phrase of a learned section in three of its carriers, and a typo'd copy."""
    out = []
    for section, label in sections.items():
        if label not in LEARNED:
            continue
        for phrases in lexicon[section].values():
            for phrase in phrases:
                for carrier in rng.sample(CARRIERS[label], k=min(3, len(CARRIERS[label]))):
                    out.append(carrier.format(phrase))
                words = phrase.split()
                slipped = " ".join(_typo(w, rng) for w in words)
                if slipped != phrase:
                    out.append(rng.choice(CARRIERS[label]).format(slipped))
    return out


def silver_examples(nlp: Language, texts: Iterable[str], prefix: Sequence[str],
                    labellers: Sequence[str]) -> List[Example]:
    """Examples whose reference spans are what the lexicon's rulers find; the predicted doc
    carries the prefix's annotations (dictionary forms), as it will when reading."""
    examples = []
    for text in texts:
        with nlp.select_pipes(enable=list(prefix) + list(labellers)):
            labelled = nlp(text)
        spans = [(e.start, e.end, f"{e.label_}|{e.ent_id_}") for e in labelled.ents
                 if e.label_ in LEARNED and e.ent_id_]
        with nlp.select_pipes(enable=list(prefix)):
            predicted = nlp(text)
        reference = predicted.copy()
        reference.spans[SPANS_KEY] = [Span(reference, s, e, label=lab) for s, e, lab in spans]
        examples.append(Example(predicted, reference))
    return examples


def add_and_train(nlp: Language, texts: List[str], prefix: Sequence[str],
                  labellers: Sequence[str], after: str) -> Dict[str, float]:
    """Adds the span categoriser after `after`, trains it on silver examples (fixed seed,
    so the same knowledge base and data give the same model) and returns its training loss."""
    from spacy.util import fix_random_seed, minibatch
    fix_random_seed(SEED)
    rng = random.Random(SEED)
    examples = silver_examples(nlp, texts, prefix, labellers)
    spancat = nlp.add_pipe("spancat", name="fact_spancat", after=after, config={
        "spans_key": SPANS_KEY, "threshold": THRESHOLD,
        "suggester": {"@misc": "spacy.ngram_range_suggester.v1", "min_size": 1, "max_size": 4}})
    labels = sorted({s.label_ for eg in examples for s in eg.reference.spans[SPANS_KEY]})
    for label in labels:
        spancat.add_label(label)
    with nlp.select_pipes(enable=["fact_spancat"]):
        optimizer = nlp.initialize(lambda: examples)
        losses: Dict[str, float] = {}
        for _ in range(EPOCHS):
            rng.shuffle(examples)
            losses = {}
            for batch in minibatch(examples, size=32):
                nlp.update(batch, sgd=optimizer, drop=0.2, losses=losses)
    return losses


# what the proposals are used for: warning signs stay with the lexicon and its word pairs
# (on the development sets 4 of the 7 warning signs the model proposed were wrong, and a false
# alarm sends a person to urgent care)
USED = ("FACT", "CONCERN", "AREA", "PROCEDURE")
COMMON_LOGP = -16.0  # spacy-lookups-data word frequencies: about the 93,000 most frequent words


@functools.lru_cache(maxsize=1)
def word_probs() -> Dict[str, float]:
    """spacy-lookups-data's English word frequencies (log probabilities), read once per
    build: the typo step's protected words and the everyday words below both come from it."""
    import gzip
    import json
    from pathlib import Path
    import spacy_lookups_data
    path = Path(spacy_lookups_data.__file__).parent / "data" / "en_lexeme_prob.json.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def common_words() -> List[str]:
    """Everyday English words (spacy-lookups-data's frequencies). A one-word proposal that is
    one of them ("intense", "seal", "finish") is not used: the model's one-word finds that
    help are words no dictionary of everyday English holds (drug names, "youthfulness")."""
    return sorted(w for w, p in word_probs().items()
                  if p >= COMMON_LOGP and w.isalpha() and w.islower())


@Language.factory("fact_statistical", default_config={"threshold": THRESHOLD})
def make_fact_statistical(nlp: Language, name: str, threshold: float):
    return StatisticalMentions(threshold)


class StatisticalMentions:
    """Adds the span categoriser's proposals that fall where the lexicon found nothing, as
    entities of their section with `_.statistical` set."""

    def __init__(self, threshold: float, common: Iterable[str] = ()):
        self.threshold = threshold
        self.common = set(common)

    def _usable(self, span: Span, label: str) -> bool:
        if label not in USED:
            return False
        if len(span) == 1:
            return span[0].lower_ not in self.common and span[0].is_alpha
        return any(not t.is_stop and t.is_alpha for t in span)

    def __call__(self, doc: Doc) -> Doc:
        group = doc.spans.get(SPANS_KEY)
        if not group:
            return doc
        taken = {i for e in doc.ents for i in range(e.start, e.end)}
        scores = group.attrs.get("scores")
        proposals: List[Tuple[float, Span]] = []
        for k, span in enumerate(group):
            score = float(scores[k]) if scores is not None else 1.0
            if score >= self.threshold and "|" in span.label_:
                proposals.append((score, span))
        new = []
        for score, span in sorted(proposals, key=lambda p: (-p[0], p[1].start)):
            if any(i in taken for i in range(span.start, span.end)):
                continue
            label, ident = span.label_.split("|", 1)
            if not self._usable(span, label):
                continue
            new.append(Span(doc, span.start, span.end, label=label, span_id=ident))
            taken.update(range(span.start, span.end))
        if new:
            doc.ents = list(doc.ents) + new
            starts = {(n.start, n.end) for n in new}
            for ent in doc.ents:
                if (ent.start, ent.end) in starts:
                    ent._.statistical = True
        return doc

    # the everyday words travel with the pipeline (models/spacy_pipeline/fact_statistical)
    def to_disk(self, path, exclude=()):
        from pathlib import Path
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / "common_words.txt").write_text("\n".join(sorted(self.common)), encoding="utf-8")

    def from_disk(self, path, exclude=()):
        from pathlib import Path
        words = Path(path) / "common_words.txt"
        self.common = set(words.read_text(encoding="utf-8").split()) if words.exists() else set()
        return self
