"""Symptom-text track: preprocessing, negation-aware symptom extraction, features, classifiers, encoder.

Modules (one idea each):

* ``preprocess``   — tokenizers, stemming, optional WordNet lemmatization, clinical stopwords
* ``synonyms``     — extra surface forms beyond the shared lexicon (and why each kind is there)
* ``lexicon_index``— the lexicon as a token-key trie, abbreviations, typo look-up
* ``matcher``      — longest-match span finding over tokens
* ``negation``     — NegEx-style triggers, pseudo-negations and scope
* ``measurements`` — "temp 38.9", "lost 6 kg", "SpO2 88%"
* ``extract``      — ``extract_mentions(text) -> list[Mention]``
* ``features``     — ``SymptomFeaturizer`` (present / absent / not mentioned) and the TF-IDF path
* ``models``       — LR, linear SVM, naive Bayes, random forest pipelines; stratified CV; grid search
* ``encoder``      — ``TextEncoder``: a small PyTorch embedding-bag encoder (``fit``, ``embed``)
* ``evaluate``     — span precision / recall and negation accuracy against gold spans
"""
from medfusion_lib.text.extract import Mention, extract_mentions

__all__ = ["Mention", "extract_mentions"]
