from dataclasses import replace

from pipeline.clean import CleanOptions, Tagged, clean_text, clean_utterances, clean_words, kanji_number
from pipeline.config import load_options
from pipeline.types import Mark, Utterance, Word

OPTS = CleanOptions(enabled=True, fillers=("えー", "えーと", "あのー", "あの", "まあ", "その"),
                    punctuation=True, numerals=True, corrections="", vocabulary_fix=True,
                    low_confidence=0.5, low_confidence_kanji=0.8)


def words(*texts, prob=0.9):
    return [Word(i, i + 1, t, prob) for i, t in enumerate(texts)]


def unsure_fix(*texts, vocabulary):
    """Words Whisper was unsure of, cleaned with a vocabulary: (text, marked spans, originals)."""
    (u,) = clean_utterances([Utterance(0, 1, "S1", tuple(words(*texts, prob=0.3)), "")], OPTS, vocabulary)
    return u.text, [(u.text[m.start:m.end], m.original) for m in u.marks]


def clean(*texts, vocabulary=(), corrections=None, opts=OPTS):
    return clean_words(words(*texts), opts, corrections or {}, vocabulary).text


def test_standalone_fillers_go_but_words_that_contain_them_stay():
    assert clean("えー、", "それでは", "始めます。") == "それでは始めます。"
    assert clean(" あのー", " 資料を", "ご覧ください。") == "資料をご覧ください。"
    assert clean("その他", "ございますか。") == "その他ございますか。"          # not a filler here
    assert clean("あの", "施設は", "まあまあです。") == "あの施設はまあまあです。"   # not standalone
    assert clean("それは", "、まあ、", "検討します。") == "それは、検討します。"


def test_punctuation_is_full_width_and_segment_spaces_become_punctuation():
    assert clean("終わります", " 以上で", "閉会します") == "終わります。以上で閉会します。"
    assert clean("予算は", " 120万円で", "した.") == "予算は、120万円でした。"
    assert clean("どうでしょうか?") == "どうでしょうか？"
    assert clean("3.5", "パーセント") == "3.5パーセント"   # a decimal point stays


def test_numerals_become_arabic_where_they_count_not_in_set_phrases():
    assert clean("案件一について") == "案件1について"
    assert clean("三件、", "百二十万円、", "令和六年度") == "3件、120万円、令和6年度"
    assert clean("第二回", "二〇二四年") == "第2回2024年"
    assert clean("一番人気", "一同", "一般の方") == "一番人気一同一般の方"


def test_kanji_number_parser():
    assert [kanji_number(s) for s in ("一", "十", "十二", "百二十", "三千五", "二〇二四", "万")] == \
        [1, 10, 12, 120, 3005, 2024, None]
    # two bare digits are an approximate number (二三日 = two or three days), not 23
    assert [kanji_number(s) for s in ("二三", "三四", "七五三")] == [None, None, None]


def test_corrections_and_vocabulary_near_misses():
    assert clean("参加出来ます。", corrections={"出来ます": "できます"}) == "参加できます。"
    assert clean("審議会", vocabulary=("審議会",)) == "審議会"   # short words are left alone
    # a near-miss is corrected only where Whisper was unsure of the word (issue #12) …
    assert clean("公民間講座を", "開きます。", vocabulary=("公民館講座",)) == "公民間講座を開きます。"
    text, marks = unsure_fix("公民間講座を", "開きます。", vocabulary=("公民館講座",))
    assert text == "公民館講座を開きます。"
    # … and the corrected span stays highlighted, with what Whisper wrote
    assert ("公民館講座", "公民間講座") in marks


def test_real_words_are_never_near_misses():
    for heard, vocabulary in (("総務部長", "総務課長"), ("東部公民館", "西部公民館"), ("教育委員会", "教育委員長"),
                              ("公民館の", "公民館長")):
        text, marks = unsure_fix(heard + "から説明します。", vocabulary=(vocabulary,))
        assert text == heard + "から説明します。"
        assert all(original == "" for _, original in marks)


def test_clean_text_runs_the_drafts_rules_with_the_default_options():
    assert CleanOptions() == load_options().clean   # the dataclass defaults are default.yaml's
    assert clean_text("えー、 令和六年度の予算は 百二十万円です") == "令和6年度の予算は、120万円です。"
    assert clean_text("参加出来ます") == "参加できます。"   # configs/corrections.yaml
    assert clean_text("公民間講座を開きます。", vocabulary=("公民館講座",)) == "公民間講座を開きます。"


def test_clean_text_works_without_the_repositorys_configs(tmp_path, monkeypatch):
    import pipeline.clean as clean

    monkeypatch.setattr(clean, "CONFIG_DIR", tmp_path)   # as installed without configs/ beside it
    clean._default_corrections.cache_clear()
    try:
        assert clean_text("えー、第三回の会議を 十分に準備して開きます") == "第3回の会議を、十分に準備して開きます。"
    finally:
        clean._default_corrections.cache_clear()


def test_mark_keeps_the_original_in_json_only_when_set():
    plain = Mark(0, 3, "low_confidence")
    assert plain.to_dict() == {"start": 0, "end": 3, "kind": "low_confidence", "note": ""}
    fixed = replace(plain, original="公民間")
    assert Mark.from_dict(fixed.to_dict()) == fixed
    assert Mark.from_dict({"start": 0, "end": 3, "kind": "low_confidence"}) == plain   # an older OUT.json


def test_every_character_keeps_its_source_word_and_low_confidence_is_marked():
    ws = [Word(0, 1, "予算は", 0.9), Word(1, 2, "百二十", 0.3), Word(2, 3, "万円", 0.95), Word(3, 4, "です", 0.9)]
    (u,) = clean_utterances([Utterance(0, 4, "S1", tuple(ws), "")], OPTS)
    assert u.text == "予算は120万円です。"
    assert [(u.text[m.start:m.end], m.kind) for m in u.marks] == [("120", "low_confidence")]


def test_cleaning_off_keeps_whisper_text():
    off = CleanOptions(**{**OPTS.__dict__, "enabled": False})
    assert clean(" えー、", "案件一", opts=off) == "えー、案件一"


def test_tagged_sub_insertion():
    t = Tagged(list("ab"), [0, 1]).sub(__import__("re").compile("(?<=a)"), lambda m: "、")
    assert (t.text, t.src) == ("a、b", [0, -1, 1])


def test_kanji_words_need_more_confidence():
    ws = [Word(0, 1, "新議会", 0.7), Word(1, 2, "を", 0.7), Word(2, 3, "開きます", 0.9)]
    (u,) = clean_utterances([Utterance(0, 3, "S1", tuple(ws), "")], OPTS)
    assert [u.text[m.start:m.end] for m in u.marks] == ["新議会"]
