from pipeline.agenda import agenda_items, find_headings
from pipeline.types import Utterance

AGENDA = ["14:00 開会 委員紹介 委員長あいさつ", "14:10 本日の資料・案件の確認",
          "14:15 案件1 行政経営アクションプランの評価・検証", "14:45 休憩",
          "14:50 再開 案件2 行政経営アクションプランの概要について", "15:30 閉会"]


CHAIR = {"S1": "委員長"}


def u(start, text, speaker="S1"):
    return Utterance(start, start + 5, speaker, (), text)


def headings(utts, agenda=AGENDA, labels=CHAIR, markers=()):
    return find_headings(utts, agenda, markers, labels)[1]


def test_agenda_lines_split_into_items():
    assert agenda_items(AGENDA) == ["開会", "委員紹介", "委員長あいさつ", "本日の資料・案件の確認",
                                    "案件1 行政経営アクションプランの評価・検証", "休憩", "再開",
                                    "案件2 行政経営アクションプランの概要について", "閉会"]


def test_items_are_found_in_what_is_said_in_order():
    utts = [u(0, "ただいまから委員会を開会いたします。"),                        # 0 開会
            u(60, "本日は皆様ご出席ありがとうございます。以上、ご挨拶とさせていただきます。"),  # 1 あいさつ
            u(120, "それでは本日の資料、案件の確認を行います。"),                # 2 確認
            u(130, "では本日案件1行政経営アクションプランの評価、検証を行います。事務局及び政策推進課から説明をお願いいたします。"),  # 3
            u(200, "ご意見はありますか。"),
            u(300, "ここで5分ほど休憩といたします。"),                          # 5 → 休憩 after it
            u(600, "それでは再開します。案件2について説明をお願いします。"),   # 6 再開; 案件2 after
            u(700, "資料2をご覧ください。"),
            u(900, "以上で本日の委員会を閉会します。")]                          # 8 閉会
    got = [(h.title, h.before) for h in headings(utts)]
    assert got == [("開会", 0), ("委員長あいさつ", 1), ("本日の資料・案件の確認", 2),
                   ("案件1 行政経営アクションプランの評価・検証", 3), ("休憩", 6), ("再開", 6),
                   ("案件2 行政経営アクションプランの概要について", 7), ("閉会", 8)]
    assert all(h.source == "agenda" for h in headings(utts))


def test_an_item_never_said_gets_no_heading():
    assert [h.title for h in headings([u(0, "開会します。"), u(9, "閉会します。")])] == ["開会", "閉会"]


def test_markers_win_over_the_agenda():
    utts = [u(0, "開会します。"), u(10, "説明します。"), u(20, "閉会します。")]
    out, got = find_headings(utts, AGENDA, markers=[(12.0, "案件1"), (31.0, "閉会")], labels=CHAIR)
    assert out == tuple(utts)
    assert [(h.title, h.before, h.source) for h in got] == [("案件1", 1, "markers"), ("閉会", 3, "markers")]


def test_an_item_named_after_a_speaker_is_found_in_that_speakers_words():
    utts = [Utterance(0, 5, "P9", (), "ただいまから開会します。委員長からごあいさつをお願いします。"),
            Utterance(6, 20, "P1", (), "皆様こんにちは。以上、ご挨拶とさせていただきます。")]
    got = headings(utts, ["14:00 開会 委員長あいさつ"], labels={"P9": "事務局", "P1": "委員長"})
    assert [(h.title, h.before) for h in got] == [("開会", 0), ("委員長あいさつ", 1)]


def test_a_resumption_announced_with_the_break_is_not_a_heading_yet():
    utts = [u(0, "開会します。"), u(10, "ここで休憩とします。2時50分から再開とさせていただきます。")]
    assert [(h.title, h.before) for h in headings(utts)] == [("開会", 0), ("休憩", 2)]


def test_a_members_words_never_make_a_heading():
    utts = [u(0, "ただいまから委員会を開会いたします。"), u(10, "それでは閉会します。", "S2")]
    assert [h.title for h in headings(utts, labels={"S1": "委員長", "S2": "A委員"})] == ["開会"]


def test_an_unsure_place_is_marked_for_the_editor_not_headed():
    # Without enrollment a misheard 閉会 (編解) may be anyone's: a mark on the words, no heading.
    utts = [u(0, "ただいまから委員会を開会いたします。"), u(10, "以上で本日の委員会を編解します。")]
    out, got = find_headings(utts, AGENDA, labels={"S1": "話者1"})
    assert [h.title for h in got] == ["開会"]
    marks = [m for m in out[1].marks if m.kind == "heading"]
    assert [(out[1].text[m.start:m.end], m.note) for m in marks] == [("編解します", "閉会")]
    assert not out[0].marks


def test_the_same_words_by_the_chair_make_the_heading():
    utts = [u(0, "ただいまから委員会を開会いたします。"), u(10, "以上で本日の委員会を編解します。")]
    out, got = find_headings(utts, AGENDA, labels=CHAIR)
    assert [(h.title, h.before) for h in got] == [("開会", 0), ("閉会", 1)]
    assert not any(m.kind == "heading" for v in out for m in v.marks)


def test_a_part_may_start_anywhere_in_the_agenda_and_never_goes_back():
    utts = [u(0, "それでは再開させていただきます。"),
            u(10, "案件1の資料を見ながら案件2について議論します。", "S2"),
            u(20, "ただいまから委員会を開会いたします。"),  # 開会 comes before 再開: not after it
            u(30, "以上で閉会します。")]
    got = headings(utts, labels={"S1": "委員長", "S2": "A委員"})
    assert [(h.title, h.before) for h in got] == [("再開", 0), ("閉会", 3)]
