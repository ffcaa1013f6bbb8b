"""What the domain tells a person, as data: a stable code, its parameters, English text.

The domain never translates. It says *what* happened (``campaign.no_issue`` with
``issue_id=7``) and keeps a default English sentence for logs, the command line and the
API. The admin turns the code and parameters into the reader's language
(``service.web.messages``); a code it does not know shows the English text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

# Keys of a message stored as JSON (see ``Message.dump``).
_CODE, _TEXT, _PARAMS = "code", "text", "params"


@dataclass(frozen=True)
class Message:
    """A sentence for a person: ``code`` and ``params`` for translation, ``text`` in English.

    A parameter may itself be a ``Message`` (an address error inside a campaign error);
    it is translated along with its parent.
    """

    code: str
    text: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, code: str, template: str, **params: Any) -> Message:
        """The message ``code`` with its English ``template`` (``%(name)s`` style) filled in."""
        return cls(code, template % params if params else template, params)

    def __str__(self) -> str:
        return self.text

    def dump(self) -> dict[str, Any]:
        """A JSON-ready form (nested messages included) that ``load`` reads back."""
        params = {k: v.dump() if isinstance(v, Message) else v for k, v in self.params.items()}
        return {_CODE: self.code, _TEXT: self.text, _PARAMS: params}

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> Message:
        """The message ``dump`` wrote."""
        params = {k: _loaded(v) for k, v in (data.get(_PARAMS) or {}).items()}
        return cls(str(data.get(_CODE) or ""), str(data.get(_TEXT) or ""), params)


def _loaded(value: Any) -> Any:
    if isinstance(value, Mapping) and _CODE in value and _TEXT in value:
        return Message.load(value)
    return value


class FieldErrors(ValueError):
    """A submitted form is invalid; ``errors`` maps each field to what is wrong."""

    def __init__(self, errors: dict[str, Message]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class DomainError(Exception):
    """An error a person can act on; ``str()`` is the English text, ``detail`` the message.

    Subclasses also derive from the builtin that callers catch (``ValueError``,
    ``RuntimeError``), so existing ``except`` clauses keep working.
    """

    def __init__(self, code: str, template: str, **params: Any) -> None:
        self.detail = Message.of(code, template, **params)
        super().__init__(self.detail.text)

    @classmethod
    def carrying(cls, detail: Message) -> Self:
        """The error that says ``detail`` (a message read back from a child process)."""
        error = _restore(cls, detail)
        assert isinstance(error, cls)
        return error

    @property
    def code(self) -> str:
        """The stable code, e.g. ``campaign.no_issue``."""
        return self.detail.code

    @property
    def params(self) -> Mapping[str, Any]:
        """The names, ids and counts the sentence is about."""
        return self.detail.params

    @property
    def message(self) -> str:
        """The default English sentence."""
        return self.detail.text

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions pickle as cls(*args); ours take (code, template, **params) instead.
        return (_restore, (type(self), self.detail))


def _restore(cls: type[DomainError], detail: Message) -> DomainError:
    error = cls.__new__(cls)
    error.detail = detail
    Exception.__init__(error, detail.text)
    return error


def message_of(exc: BaseException) -> Message:
    """The message of any exception: a domain error's own, else its text with no code."""
    if isinstance(exc, DomainError):
        return exc.detail
    return Message("", str(exc) or type(exc).__name__)
