"""Frozen records with slots, for the few records a ``NamedTuple`` does not fit.

Most records of modelscan are ``NamedTuple``\\ s. A :class:`Record` is for the others: one whose
equality leaves a field out (a header's warnings), one with a field named like a tuple method
(``count``), one stored as a metadata value beside plain tuples (which must not compare equal to
it), or one that caches a derived value. Unlike a dataclass, nothing is generated: a subclass
lists its fields in ``_fields`` (and ``__slots__``) and writes its own ``__init__`` with
:data:`set_field`; equality, hashing, ``repr``, pickling and ``_replace`` read ``_fields``. So
defining one costs what defining a plain class costs, and importing this module loads nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from typing import TypeVar

    _R = TypeVar("_R", bound="Record")

__all__ = ["Record", "set_field"]

#: Sets a field of a record from its ``__init__`` (a record refuses ``record.field = value``).
set_field = object.__setattr__


class Record:
    """A frozen record: compared, hashed and pickled by its fields, refusing assignment."""

    __slots__ = ()

    #: The fields, in the order ``__init__`` takes them.
    _fields: ClassVar[tuple[str, ...]] = ()
    #: The fields that equality and hashing compare; all of ``_fields`` unless a subclass says.
    _compared: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        if "_compared" not in cls.__dict__:
            cls._compared = cls._fields

    def _values(self, names: tuple[str, ...]) -> tuple[object, ...]:
        return tuple([getattr(self, name) for name in names])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record) or other.__class__ is not self.__class__:
            return NotImplemented
        return self._values(self._compared) == other._values(self._compared)

    def __hash__(self) -> int:
        # Like a frozen dataclass: a record with a dict field raises TypeError (unhashable).
        return hash(self._values(self._compared))

    def __repr__(self) -> str:
        shown = ", ".join([f"{name}={getattr(self, name)!r}" for name in self._fields])
        return f"{self.__class__.__qualname__}({shown})"

    def __reduce__(self) -> tuple[object, ...]:
        return (self.__class__, self._values(self._fields))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{self.__class__.__name__} is immutable: cannot assign to {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{self.__class__.__name__} is immutable: cannot delete {name!r}")

    def _replace(self: _R, **changes: object) -> _R:
        """A copy with the fields named in *changes* replaced (as ``NamedTuple._replace``)."""
        values = {name: getattr(self, name) for name in self._fields}
        unknown = changes.keys() - values.keys()
        if unknown:
            raise TypeError(f"{self.__class__.__name__} has no field {sorted(unknown)[0]!r}")
        values.update(changes)
        return self.__class__(**values)
