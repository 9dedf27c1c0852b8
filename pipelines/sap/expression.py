"""Quantities as counters type them: ``24*10``, ``3*12+5``, ``(4+2)*6``, ``12,5``.

A tiny recursive-descent parser for + - * / and parentheses over decimal numbers, never
``eval``: what a person typed on a tablet or a paper sheet must not run as code.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"\s*(?:(\d+(?:[.,]\d*)?|[.,]\d+)|(.))")
MAX_LENGTH = 200


class QuantityError(ValueError):
    """The text is not a quantity or an arithmetic expression of quantities."""


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    for number, symbol in _TOKEN.findall(text):
        if number:
            tokens.append(number.replace(",", "."))
        elif symbol.strip():
            if symbol not in "+-*/()xX×":
                raise QuantityError(f"unexpected character {symbol!r}")
            tokens.append("*" if symbol in "xX×" else symbol)
    return tokens


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.position = 0

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise QuantityError("expression ends too early")
        self.position += 1
        return token

    def expression(self) -> float:
        value = self.term()
        while self.peek() in ("+", "-"):
            value = value + self.term() if self.take() == "+" else value - self.term()
        return value

    def term(self) -> float:
        value = self.factor()
        while self.peek() in ("*", "/"):
            operator = self.take()
            right = self.factor()
            if operator == "*":
                value *= right
            elif right == 0:
                raise QuantityError("division by zero")
            else:
                value /= right
        return value

    def factor(self) -> float:
        token = self.take()
        if token == "-":
            return -self.factor()
        if token == "+":
            return self.factor()
        if token == "(":
            value = self.expression()
            if self.take() != ")":
                raise QuantityError("missing closing parenthesis")
            return value
        try:
            return float(token)
        except ValueError:
            raise QuantityError(f"expected a number, found {token!r}") from None


def evaluate_quantity(text: str | float | int | None) -> float | None:
    """The value of a typed quantity; None for an empty entry (location seen, not counted)."""
    if text is None:
        return None
    if isinstance(text, int | float):
        return float(text)
    stripped = text.strip().replace("\u00a0", "")
    if not stripped:
        return None
    if len(stripped) > MAX_LENGTH:
        raise QuantityError(f"longer than {MAX_LENGTH} characters")
    parser = _Parser(_tokens(stripped))
    value = parser.expression()
    if parser.peek() is not None:
        raise QuantityError(f"unexpected {parser.peek()!r} after the expression")
    return round(value, 6)
