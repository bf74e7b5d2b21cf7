"""Lexical cues fire on the listed phrases in each shipped language, and not on neutral talk."""

from __future__ import annotations

import pytest

from speech.cues import lexical_cues, load_phrasebook
from speech.cues.lexical import LANGUAGES, LEXICAL_CUES, default_phrasebook, normalise

POSITIVE = [
    # English
    ("en", "Please help me, I can't get up", {"asking_for_help", "fall"}),
    ("en", "I fell down in the kitchen", {"fall"}),
    ("en", "It hurts so much, my chest", {"pain"}),
    ("en", "I'm scared, someone is in my house", {"fear"}),
    ("en", "I don't understand what you mean", {"confusion"}),
    ("en", "A man said they're from the bank and wants gift cards", {"scam"}),
    ("en", "They asked for my password and a wire transfer", {"scam"}),
    # Korean
    ("ko", "도와주세요 넘어졌어요", {"asking_for_help", "fall"}),
    ("ko", "가슴이 아파요", {"pain"}),
    ("ko", "너무 무서워요", {"fear"}),
    ("ko", "무슨 말인지 모르겠어요", {"confusion"}),
    ("ko", "은행에서 왔다고 상품권을 사서 비밀번호를 알려달래요", {"scam"}),
    ("ko", "검찰이라면서 안전계좌로 이체하래요", {"scam"}),
    # Mandarin (simplified and traditional)
    ("zh", "救命 我摔倒了 起不来", {"asking_for_help", "fall"}),
    ("zh", "我胸口很痛", {"pain"}),
    ("zh", "我很害怕", {"fear"}),
    ("zh", "我听不懂你说什么", {"confusion"}),
    ("zh", "他说是银行的 要我转账买礼品卡", {"scam"}),
    ("zh", "對方要我的密碼和驗證碼", {"scam"}),
    # Cantonese
    ("yue", "救命呀 我跌低咗 起唔到身", {"asking_for_help", "fall"}),
    ("yue", "我好痛", {"pain"}),
    ("yue", "我好驚", {"fear"}),
    ("yue", "我唔明白你講咩", {"confusion"}),
    ("yue", "佢話係銀行 叫我過數", {"scam"}),
]

NEUTRAL = [
    ("en", "I would like to check the balance on my account"),
    ("en", "What time does the branch open tomorrow"),
    ("en", "My name is Margaret and I live on Elm Street"),
    ("en", "Thank you very much, that is all for today"),
    ("en", "Can I change the address for my letters"),
    ("ko", "잔액을 확인하고 싶어요"),
    ("ko", "내일 지점이 몇 시에 열어요"),
    ("ko", "감사합니다 안녕히 계세요"),
    ("zh", "我想查一下账户余额"),
    ("zh", "明天银行几点开门"),
    ("zh", "謝謝你 再見"),
    ("yue", "我想查下戶口餘額"),
    ("yue", "聽日幾點開門"),
    ("yue", "唔該晒 拜拜"),
]


@pytest.mark.parametrize("lang,text,expected", POSITIVE)
def test_phrases_fire(lang: str, text: str, expected: set[str]) -> None:
    cues = lexical_cues(text, start_s=1.0, end_s=3.0)
    names = {c.name for c in cues}
    assert expected <= names, (text, names)
    for c in cues:
        assert c.kind == "lexical" and 0 < c.strength <= 1
        assert (c.start_s, c.end_s) == (1.0, 3.0)
        assert c.evidence.startswith("heard")
    # Restricting to the text's own language still finds them.
    assert expected <= {c.name for c in lexical_cues(text, languages=[lang])}


@pytest.mark.parametrize("lang,text", NEUTRAL)
def test_neutral_sentences_do_not_fire(lang: str, text: str) -> None:
    assert lexical_cues(text) == [], text


def test_every_cue_has_phrases_in_every_language() -> None:
    book = default_phrasebook()
    have = {(p.cue, p.language) for p in book.phrases}
    for cue in LEXICAL_CUES:
        for lang in LANGUAGES:
            assert (cue, lang) in have, (cue, lang)


def test_repeated_what_is_confusion_but_one_is_not() -> None:
    assert lexical_cues("what?") == []
    assert lexical_cues("what?", recent_texts=["I'd like my balance"]) == []
    c = lexical_cues("what", recent_texts=["huh?", "what?"])
    assert [x.name for x in c] == ["confusion"] and "3 times" in c[0].evidence
    assert lexical_cues("뭐라고요?", recent_texts=["뭐?"])[0].name == "confusion"
    assert lexical_cues("咩", recent_texts=["咩話"])[0].name == "confusion"


def test_whole_words_only_and_overlaps_count_once() -> None:
    assert lexical_cues("the helpful helper") == []  # "help" only as a word
    one = lexical_cues("it hurts")[0].strength
    assert one == pytest.approx(1.0)  # "it hurts" (1.0); "hurts" inside it not added again
    both = lexical_cues("pain, dizzy")[0].strength
    assert 0.8 < both < 1.0  # two distinct phrases combine


def test_normalise_and_bad_phrase_file(tmp_path) -> None:
    assert normalise("I’M  Scared!!") == "i'm scared"
    bad = tmp_path / "p.toml"
    bad.write_text('[not_a_cue]\nen = ["x"]\n')
    with pytest.raises(ValueError, match="unknown lexical cue"):
        load_phrasebook(bad)
    bad.write_text('[pain]\nen = ["ouch|7"]\n')
    with pytest.raises(ValueError, match="weight"):
        load_phrasebook(bad)
