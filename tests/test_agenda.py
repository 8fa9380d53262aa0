from pipeline.agenda import agenda_items, find_headings
from pipeline.types import Utterance

AGENDA = ["14:00 開会 委員紹介 委員長あいさつ", "14:10 本日の資料・案件の確認",
          "14:15 案件1 行政経営アクションプランの評価・検証", "14:45 休憩",
          "14:50 再開 案件2 行政経営アクションプランの概要について", "15:30 閉会"]


def u(start, text):
    return Utterance(start, start + 5, "S1", (), text)


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
    got = [(h.title, h.before) for h in find_headings(utts, AGENDA)]
    assert got == [("開会", 0), ("委員長あいさつ", 1), ("本日の資料・案件の確認", 2),
                   ("案件1 行政経営アクションプランの評価・検証", 3), ("休憩", 6), ("再開", 6),
                   ("案件2 行政経営アクションプランの概要について", 7), ("閉会", 8)]
    assert all(h.source == "agenda" for h in find_headings(utts, AGENDA))


def test_an_item_never_said_gets_no_heading():
    assert [h.title for h in find_headings([u(0, "開会します。"), u(9, "閉会します。")], AGENDA)] == ["開会", "閉会"]


def test_markers_win_over_the_agenda():
    utts = [u(0, "開会します。"), u(10, "説明します。"), u(20, "閉会します。")]
    got = find_headings(utts, AGENDA, markers=[(12.0, "案件1"), (31.0, "閉会")])
    assert [(h.title, h.before, h.source) for h in got] == [("案件1", 1, "markers"), ("閉会", 3, "markers")]


def test_an_item_named_after_a_speaker_is_found_in_that_speakers_words():
    utts = [Utterance(0, 5, "P9", (), "ただいまから開会します。委員長からごあいさつをお願いします。"),
            Utterance(6, 20, "P1", (), "皆様こんにちは。以上、ご挨拶とさせていただきます。")]
    got = find_headings(utts, ["14:00 開会 委員長あいさつ"], labels={"P9": "事務局", "P1": "委員長"})
    assert [(h.title, h.before) for h in got] == [("開会", 0), ("委員長あいさつ", 1)]


def test_a_resumption_announced_with_the_break_is_not_a_heading_yet():
    utts = [u(0, "開会します。"), u(10, "ここで休憩とします。2時50分から再開とさせていただきます。")]
    assert [(h.title, h.before) for h in find_headings(utts, AGENDA)] == [("開会", 0), ("休憩", 2)]
