from pathlib import Path

import numpy as np
import pytest
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from bot.intent_model import IntentModel, IntentModelError
from bot.lexical_features import CHAR, WORD, LexicalFeatures, LexicalFeaturesError, grams

DOCS = [
    ("Where is my order??", ["Where", "is", "my", "order", "??"]),
    ("where's my  order", ["where", "'s", "my", "order"]),
    ("我的订单到哪了", ["我", "的", "订单", "到", "哪", "了"]),
    ("退款到哪了", ["退款", "到", "哪", "了"]),
    ("cancel my order", ["cancel", "my", "order"]),
]


def test_character_grams_are_scikit_learns_char_wb() -> None:
    analyzer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3)).build_analyzer()
    for text, tokens in DOCS:
        ours = {g.removeprefix(CHAR): n for g, n in grams(text, tokens).items() if g.startswith(CHAR)}
        expected: dict[str, int] = {}
        for gram in analyzer(text):
            expected[gram] = expected.get(gram, 0) + 1
        assert ours == expected


def test_word_grams_are_lowercased_unigrams_and_bigrams_of_the_tokens() -> None:
    words = {g for g in grams("x", ["Cancel", " ", "my", "ORDER"]) if g.startswith(WORD)}
    assert words == {"w:cancel", "w:my", "w:order", "w:cancel my", "w:my order"}


def test_features_equal_scikit_learns_tfidf_per_block() -> None:
    features = LexicalFeatures.fit(DOCS, min_df=2, char_weight=2.0, word_weight=0.0)
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True, min_df=2)
    expected = 2.0 * vectorizer.fit_transform([t for t, _ in DOCS]).toarray()
    ours = features.transform(DOCS).toarray()
    order = [features.index[CHAR + g] for g in vectorizer.get_feature_names_out()]
    assert features.dimension > len(order)  # the word block is kept, with weight 0
    np.testing.assert_allclose(ours[:, order], expected, rtol=1e-5, atol=1e-6)
    assert not ours[:, [i for i in range(features.dimension) if i not in order]].any()


def test_each_block_weighs_its_weight() -> None:
    features = LexicalFeatures.fit(DOCS, min_df=1, char_weight=2.0, word_weight=1.0)
    row = features.transform(DOCS[:1]).toarray()[0]
    is_char = np.array([g.startswith(CHAR) for g in features.vocabulary])
    assert np.linalg.norm(row[is_char]) == pytest.approx(2.0)
    assert np.linalg.norm(row[~is_char]) == pytest.approx(1.0)


def test_unseen_text_has_no_features_and_rare_grams_are_dropped() -> None:
    features = LexicalFeatures.fit(DOCS, min_df=2)
    assert features.transform([("", [])]).nnz == 0
    row = features.transform([("zzz", ["zzz"])])
    assert [features.vocabulary[i] for i in row.indices] == ["c: "]  # only the word boundary is known
    assert "w:cancel" not in features.index  # one example only
    assert "w:order" in features.index


def test_saved_features_load_the_same(tmp_path: Path) -> None:
    features = LexicalFeatures.fit(DOCS, min_df=1, char_weight=1.5, word_weight=0.5)
    features.save(tmp_path)
    loaded = LexicalFeatures.load(tmp_path)
    assert loaded is not None
    assert (loaded.char_weight, loaded.word_weight) == (1.5, 0.5)
    np.testing.assert_array_equal(loaded.transform(DOCS).toarray(), features.transform(DOCS).toarray())


def test_a_model_without_lexical_files_loads_none_and_broken_files_raise(tmp_path: Path) -> None:
    assert LexicalFeatures.load(tmp_path) is None
    LexicalFeatures.fit(DOCS).save(tmp_path)
    (tmp_path / "lexical_vocabulary.json").write_text('{"a": 1}', encoding="utf-8")
    with pytest.raises(LexicalFeaturesError, match="not a list"):
        LexicalFeatures.load(tmp_path)
    (tmp_path / "lexical_idf.npz").write_bytes(b"junk")
    with pytest.raises(LexicalFeaturesError, match="unreadable"):
        LexicalFeatures.load(tmp_path)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(LexicalFeaturesError, match="min_df"):
        LexicalFeatures.fit(DOCS, min_df=0)
    with pytest.raises(LexicalFeaturesError, match="negative"):
        LexicalFeatures.fit(DOCS, char_weight=-1.0)


def test_the_intent_model_learns_from_n_grams_alone() -> None:
    """Sparse rows train and predict: the words tell the two intents apart where no vector would."""
    docs = [
        (t, t.split())
        for t in ("cancel it", "cancel that", "cancel now", "track it", "track that", "track now")
    ]
    labels = ["cancel_order"] * 3 + ["order_status"] * 3
    features = LexicalFeatures.fit(docs, min_df=1)
    model = IntentModel.fit(features.transform(docs), labels, c=10.0)
    ranking = model.ranking(features.transform([("please cancel", ["please", "cancel"])]), 1)
    assert ranking[0][0][0] == "cancel_order"


def test_sparse_rows_give_the_probabilities_of_the_whole_sparse_matrix() -> None:
    features = LexicalFeatures.fit(DOCS, min_df=1)
    dense = np.random.default_rng(0).random((len(DOCS), 3)).astype(np.float32)
    whole = sparse.hstack([sparse.csr_matrix(dense), features.transform(DOCS)], format="csr")
    model = IntentModel.fit(whole, ["a", "a", "b", "b", "c"], c=10.0)
    rows = [features.row(d) for d in DOCS]
    np.testing.assert_allclose(model.probabilities(dense, rows), model.probabilities(whole), rtol=1e-5)
    with pytest.raises(IntentModelError, match="shape"):
        model.probabilities(dense)  # the n-gram columns are missing
    with pytest.raises(IntentModelError, match="sparse rows for"):
        model.probabilities(dense, rows[:2])
    beyond = (np.array([features.dimension]), np.array([1.0], dtype=np.float32))
    with pytest.raises(IntentModelError, match="beyond"):
        model.probabilities(dense[:1], [beyond])
