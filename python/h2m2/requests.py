"""Request streams for multi-iteration decode runs: requests finish and new ones arrive.

Models: the dynamic-length experiment of the paper (spec section 6, "Dynamic lengths": GPT3-175B,
B=32, 128 consecutive iterations with requests finishing at random and being replaced). A
:class:`RequestStream` draws each request's prompt length and output length from two
distributions; :meth:`RequestStream.start` gives a :class:`LiveBatch` that keeps B requests live.
Each decode iteration every live request grows by one token; a request that has generated its
output length finishes after that iteration and a new arrival takes its slot in the next one, so
the KV footprint rises as sequences grow and falls when long requests are replaced by short ones.

Owns: the live batch (mutable, one per run) and its random generator. Time: iterations (no
wall-clock time). Hot path: no (called once per epoch).

Decisions (also in docs/assumptions.md):

- The batch is always full: a finished request is replaced at once (an arrival is always
  waiting), so B is constant and only the lengths change.
- At its i-th decode iteration (i = 0, 1, ...) a request's context is ``prompt_len + i`` tokens
  (``Request(prompt_len, generated=i).seq_len``); it runs ``output_len`` decode iterations, then
  finishes. Its prefill is not simulated (the paper simulates decode only).
- Default distributions (OPEN in the paper): prompt lengths uniform on 256..2048 tokens (the
  GPT3-175B S sweep), output lengths geometric with mean 128 tokens (memoryless finishing: each
  live request finishes with probability 1/128 per iteration, so about B/128 requests are
  replaced per iteration and a 128-iteration run replaces about B of them).
- Determinism: one ``numpy.random.Generator(PCG64(seed))`` per live batch; each arrival draws its
  prompt length then its output length, in request-id order, so a seed fixes the whole stream.

Spec: ../shared/spec/h2m2.md section 6; issue 4 ("Multi-iteration runs").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from h2m2.workload import Request

__all__ = [
    "Constant",
    "Distribution",
    "Empirical",
    "Geometric",
    "LiveBatch",
    "LogNormal",
    "RequestStream",
    "StepReport",
    "Uniform",
]


def _int_at_least(owner: str, name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{owner}: {name}={value!r} must be an integer >= {minimum}")
    return int(value)


def _positive_float(owner: str, name: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | np.integer | np.floating)
        or not math.isfinite(float(value))
        or value <= 0
    ):
        raise ValueError(f"{owner}: {name}={value!r} must be a positive finite number")
    return float(value)


@runtime_checkable
class Distribution(Protocol):
    """A distribution of positive integer lengths (tokens).

    Anything with ``sample(rng) -> int`` (a length >= 1) and ``mean`` (tokens) works.
    """

    @property
    def mean(self) -> float: ...

    def sample(self, rng: np.random.Generator) -> int: ...


@dataclass(frozen=True)
class Constant:
    """Always ``value`` tokens.

    Parameters
    ----------
    value
        Length, tokens (>= 1).

    Example
    -------
    >>> Constant(64).sample(np.random.default_rng(0))
    64
    """

    value: int

    def __post_init__(self) -> None:
        _int_at_least("Constant", "value", self.value, 1)

    @property
    def mean(self) -> float:
        """Mean length, tokens."""
        return float(self.value)

    def sample(self, rng: np.random.Generator) -> int:
        """One length (the generator is not advanced)."""
        return int(self.value)


@dataclass(frozen=True)
class Uniform:
    """Integer lengths uniform on ``low .. high`` (both included).

    Parameters
    ----------
    low, high
        Bounds, tokens (1 <= low <= high).

    Example
    -------
    >>> 10 <= Uniform(10, 20).sample(np.random.default_rng(0)) <= 20
    True
    """

    low: int
    high: int

    def __post_init__(self) -> None:
        _int_at_least("Uniform", "low", self.low, 1)
        _int_at_least("Uniform", "high", self.high, 1)
        if self.high < self.low:
            raise ValueError(f"Uniform: high={self.high} must be >= low={self.low}")

    @property
    def mean(self) -> float:
        """Mean length: ``(low + high) / 2`` tokens."""
        return (self.low + self.high) / 2

    def sample(self, rng: np.random.Generator) -> int:
        """One length."""
        return int(rng.integers(self.low, self.high + 1))


@dataclass(frozen=True)
class Geometric:
    """Geometric lengths (memoryless finishing) with the given mean, clipped to ``high``.

    ``P(L = k) = p (1 - p)^(k - 1)`` for k >= 1 with ``p = 1 / mean``; values above ``high``
    become ``high`` (so the mean of the clipped law is a little lower).

    Parameters
    ----------
    mean_tokens
        Mean of the unclipped law, tokens (>= 1).
    high
        Largest length, tokens (default None: no clipping).

    Example
    -------
    >>> Geometric(1).sample(np.random.default_rng(0))
    1
    """

    mean_tokens: float
    high: int | None = None

    def __post_init__(self) -> None:
        m = _positive_float("Geometric", "mean_tokens", self.mean_tokens)
        if m < 1:
            raise ValueError(f"Geometric: mean_tokens={self.mean_tokens!r} must be >= 1")
        if self.high is not None:
            _int_at_least("Geometric", "high", self.high, 1)

    @property
    def mean(self) -> float:
        """Mean of the unclipped law, tokens."""
        return float(self.mean_tokens)

    def sample(self, rng: np.random.Generator) -> int:
        """One length."""
        v = int(rng.geometric(1.0 / self.mean_tokens))
        return v if self.high is None else min(v, self.high)


@dataclass(frozen=True)
class LogNormal:
    """Log-normal lengths: ``round(exp(N(log(median), sigma)))``, clipped to ``low .. high``.

    Parameters
    ----------
    median
        Median length, tokens (> 0).
    sigma
        Standard deviation of the log, (> 0; default 1.0).
    low, high
        Clipping bounds, tokens (default 1 and None: no upper bound).

    Example
    -------
    >>> LogNormal(100, 0.5, high=120).sample(np.random.default_rng(0)) <= 120
    True
    """

    median: float
    sigma: float = 1.0
    low: int = 1
    high: int | None = None

    def __post_init__(self) -> None:
        _positive_float("LogNormal", "median", self.median)
        _positive_float("LogNormal", "sigma", self.sigma)
        _int_at_least("LogNormal", "low", self.low, 1)
        if self.high is not None:
            _int_at_least("LogNormal", "high", self.high, 1)
            if self.high < self.low:
                raise ValueError(f"LogNormal: high={self.high} must be >= low={self.low}")

    @property
    def mean(self) -> float:
        """Mean of the unclipped law: ``median x exp(sigma^2 / 2)`` tokens."""
        return float(self.median * math.exp(self.sigma**2 / 2))

    def sample(self, rng: np.random.Generator) -> int:
        """One length."""
        v = round(float(rng.lognormal(math.log(self.median), self.sigma)))
        v = max(v, self.low)
        return v if self.high is None else min(v, self.high)


@dataclass(frozen=True)
class Empirical:
    """Lengths drawn from a list of values with optional weights (e.g. a measured trace).

    Parameters
    ----------
    values
        Lengths, tokens (each >= 1; at least one).
    weights
        Relative weights, one per value (default None: equal).

    Example
    -------
    >>> Empirical((5, 7), (0.0, 1.0)).sample(np.random.default_rng(0))
    7
    """

    values: tuple[int, ...]
    weights: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        vals = tuple(self.values)
        if not vals:
            raise ValueError("Empirical: values=() must hold at least one length")
        for i, v in enumerate(vals):
            _int_at_least("Empirical", f"values[{i}]", v, 1)
        object.__setattr__(self, "values", tuple(int(v) for v in vals))
        if self.weights is not None:
            w = tuple(float(x) for x in self.weights)
            if len(w) != len(vals):
                raise ValueError(
                    f"Empirical: {len(w)} weights for {len(vals)} values; need one per value"
                )
            if any(not math.isfinite(x) or x < 0 for x in w) or sum(w) <= 0:
                raise ValueError(f"Empirical: weights={w} must be >= 0 with a positive sum")
            object.__setattr__(self, "weights", w)

    def _p(self) -> np.ndarray | None:
        if self.weights is None:
            return None
        w = np.asarray(self.weights, dtype=float)
        p: np.ndarray = w / w.sum()
        return p

    @property
    def mean(self) -> float:
        """Weighted mean length, tokens."""
        p = self._p()
        v = np.asarray(self.values, dtype=float)
        return float(v.mean() if p is None else (v * p).sum())

    def sample(self, rng: np.random.Generator) -> int:
        """One length."""
        return int(self.values[int(rng.choice(len(self.values), p=self._p()))])


def _check_distribution(name: str, d: object) -> None:
    if not isinstance(d, Distribution):
        raise ValueError(
            f"RequestStream: {name}={d!r} must be a distribution with sample(rng) and mean "
            "(Constant, Uniform, Geometric, LogNormal, Empirical)"
        )


@dataclass(frozen=True)
class StepReport:
    """What changed in the live batch between two iterations.

    Parameters
    ----------
    iteration
        The iteration the batch is now ready for (0 for the first).
    finished
        Ids of the requests that finished after the previous iteration.
    admitted
        Ids of the requests that joined for this iteration (all of them at iteration 0).
    """

    iteration: int
    finished: tuple[int, ...]
    admitted: tuple[int, ...]


@dataclass(frozen=True)
class RequestStream:
    """Requests with random prompt and output lengths that keep a batch of B requests live.

    Parameters
    ----------
    prompt_len
        Distribution of prompt lengths, tokens (default ``Uniform(256, 2048)``).
    output_len
        Distribution of output lengths (decode iterations per request), tokens (default
        ``Geometric(128)``).
    seed
        Seed of the stream (default None: the ``seed`` given to :meth:`start`, e.g. the one of
        :func:`h2m2.simulate`).

    Raises
    ------
    ValueError
        A field that is not a distribution, or a seed that is not a non-negative integer.

    Example
    -------
    >>> live = RequestStream(Constant(100), Constant(2), seed=1).start(batch=2)
    >>> [r.seq_len for r in live.requests], live.step().finished
    ([100, 100], ())
    """

    prompt_len: Distribution = field(default_factory=lambda: Uniform(256, 2048))
    output_len: Distribution = field(default_factory=lambda: Geometric(128))
    seed: int | None = None

    def __post_init__(self) -> None:
        _check_distribution("prompt_len", self.prompt_len)
        _check_distribution("output_len", self.output_len)
        if self.seed is not None:
            _int_at_least("RequestStream", "seed", self.seed, 0)

    def start(self, batch: int, *, seed: int = 0) -> LiveBatch:
        """A new live batch of ``batch`` requests (ids 0 .. batch - 1), ready for iteration 0.

        Parameters
        ----------
        batch
            Live requests (>= 1).
        seed
            Used when the stream has no seed of its own (default 0).

        Returns
        -------
        LiveBatch

        Raises
        ------
        ValueError
            For a batch below 1 or a negative seed.

        Example
        -------
        >>> len(RequestStream().start(batch=4).requests)
        4
        """
        _int_at_least("RequestStream.start", "batch", batch, 1)
        _int_at_least("RequestStream.start", "seed", seed, 0)
        return LiveBatch(self, int(batch), self.seed if self.seed is not None else int(seed))


class LiveBatch:
    """The B live requests of a :class:`RequestStream` (made by :meth:`RequestStream.start`).

    ``requests`` is the batch of the current iteration; :meth:`step` advances to the next one.
    ``report`` says what changed before the current iteration.
    """

    def __init__(self, stream: RequestStream, batch: int, seed: int) -> None:
        self.stream = stream
        self.batch = batch
        self.seed = seed
        self._rng = np.random.Generator(np.random.PCG64(seed))
        self._next_id = 0
        self._output: dict[int, int] = {}
        self.iteration = 0
        self.requests: list[Request] = [self._arrive() for _ in range(batch)]
        self.report = StepReport(0, (), tuple(r.id for r in self.requests))

    def _arrive(self) -> Request:
        rid = self._next_id
        self._next_id += 1
        prompt = int(self.stream.prompt_len.sample(self._rng))
        output = int(self.stream.output_len.sample(self._rng))
        if prompt < 1 or output < 1:
            raise ValueError(
                f"RequestStream: request {rid} drew prompt_len={prompt}, output_len={output}; "
                "distributions must give lengths >= 1"
            )
        self._output[rid] = output
        return Request(rid, prompt_len=prompt)

    def output_len(self, request_id: int) -> int:
        """Output length (decode iterations) of a live request."""
        return self._output[request_id]

    @property
    def seq_lens(self) -> tuple[int, ...]:
        """Context length of each live request in the current iteration, tokens."""
        return tuple(r.seq_len for r in self.requests)

    def step(self) -> StepReport:
        """Advance one iteration: every request grows by one token; finished ones are replaced.

        Returns
        -------
        StepReport
            The finished and admitted ids (also kept in :attr:`report`).

        Example
        -------
        >>> live = RequestStream(Constant(10), Constant(1)).start(batch=1)
        >>> live.step().admitted, live.requests[0].id
        ((1,), 1)
        """
        finished: list[int] = []
        admitted: list[int] = []
        nxt: list[Request] = []
        for r in self.requests:
            grown = Request(r.id, prompt_len=r.prompt_len, generated=r.generated + 1)
            if grown.generated >= self._output[r.id]:
                finished.append(r.id)
                del self._output[r.id]
                new = self._arrive()
                admitted.append(new.id)
                nxt.append(new)
            else:
                nxt.append(grown)
        self.requests = nxt
        self.iteration += 1
        self.report = StepReport(self.iteration, tuple(finished), tuple(admitted))
        return self.report
