"""Property tests of the mapping policies on random small models, batches, lengths and capacities.

For every random epoch (model shape, batch and per-request lengths, device capacities, cost-model
hyper-parameters, one- or two-device system):

(a) the Oracle equals a plain ``itertools.product`` brute force over the head-aware space (same
    cost, same mapping under the same first-minimum rule), and finds nothing exactly when the
    brute force finds nothing;
(b) the H2M2 greedy and the restricted searches find a mapping exactly when the Oracle does (their
    feasibility look-ahead is exact), never violate capacity, and never beat the Oracle;
(c) every built-in either returns a mapping that validates or raises ``MappingError`` naming the
    epoch; naive and FlexGen are never better than the Oracle;
(d) footprints are conserved (device 0 + device 1 = the model data) and a policy gives the same
    mapping for the same state.
"""

from __future__ import annotations

import contextlib
import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from h2m2 import policies, presets
from h2m2.cost_model import CostModel
from h2m2.models import ModelSpec
from h2m2.policies import EpochState, Mapping, MappingError, footprint_by_device
from h2m2.workload import SUBLAYERS, DecodeIteration

SYSTEMS = (presets.h2m2(), presets.lpddr_only())
SEARCHERS = ("h2m2", "a_major", "q_major", "f_major")
PROPERTY_SETTINGS = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def models(draw: st.DrawFn) -> ModelSpec:
    kv_heads = draw(st.sampled_from([1, 2, 3, 4]))
    group = draw(st.sampled_from([1, 2]))
    head_dim = draw(st.sampled_from([4, 8, 16]))
    d_model = draw(st.sampled_from([16, 32, 48]))
    return ModelSpec(
        "rand",
        layers=draw(st.integers(1, 3)),
        d_model=d_model,
        q_heads=kv_heads * group,
        kv_heads=kv_heads,
        head_dim=head_dim,
        ffn_dim=draw(st.sampled_from([16, 40, 64])),
        ffn_kind=draw(st.sampled_from(["gelu", "swiglu"])),
        vocab=50,
    )


@st.composite
def epochs(draw: st.DrawFn) -> tuple[EpochState, CostModel]:
    model = draw(models())
    lens = draw(st.lists(st.integers(1, 300), min_size=1, max_size=6))
    fc_units = draw(st.sampled_from([None, 1, 3, 5]))
    it = DecodeIteration(model, lens, fc_units=fc_units)
    total = sum(it.sublayer(s).footprint_bytes() for s in SUBLAYERS)
    system = draw(st.sampled_from(SYSTEMS))
    # Mostly enough room in total (slack >= 0), sometimes not; any share of it on device 0.
    first = draw(st.floats(0.0, 1.1))
    slack = draw(st.one_of(st.floats(0.0, 0.4), st.floats(-0.2, 0.0)))
    if len(system.devices) == 1:
        caps = [int((1.0 + slack) * total)]
    else:
        caps = [int(first * total), max(0, int((1.0 - first + slack) * total))]
    cm = CostModel(
        bw_efficiency=draw(st.floats(0.5, 1.0)),
        intensity_factor={s: draw(st.sampled_from([1e-4, 1e-2, 0.3, 1.0, 4.0])) for s in SUBLAYERS},
    )
    state = EpochState.for_iteration(
        system, it, capacity_bytes=caps, epoch=draw(st.integers(0, 99))
    )
    return state, cm


def _fits(split: dict[str, int], state: EpochState) -> bool:
    need = footprint_by_device(Mapping(split), state)
    return all(b <= c for b, c in zip(need, state.capacity_bytes, strict=True))


def _brute_force(state: EpochState, cm: CostModel) -> tuple[dict[str, int], float] | None:
    best: tuple[dict[str, int], float] | None = None
    units = state.units
    for combo in itertools.product(*(range(units[s] + 1) for s in SUBLAYERS)):
        split = dict(zip(SUBLAYERS, combo, strict=True))
        if state.devices == 1 and split != units:
            continue
        if not _fits(split, state):
            continue
        c = cm.layer_time_ns(split, state)
        if best is None or c < best[1]:
            best = (split, c)
    return best


@PROPERTY_SETTINGS
@given(epochs())
def test_oracle_is_brute_force_and_greedy_never_beats_it(
    case: tuple[EpochState, CostModel],
) -> None:
    state, cm = case
    brute = _brute_force(state, cm)
    oracle = policies.Oracle(cost_model=cm)
    if brute is None:
        for name in ("oracle", *SEARCHERS, "naive"):
            try:
                policies.get(name, cost_model=cm).on_epoch(state)
            except MappingError as err:
                assert str(err).startswith(f"epoch {state.epoch}: ")
            else:
                raise AssertionError(f"{name} found a mapping where none fits")
        return
    split, c = oracle.search(state)
    assert (split, c) == brute
    for name in SEARCHERS:
        for rest in ("greedy", "search") if name != "h2m2" else ("greedy",):
            opts = {"rest": rest} if name != "h2m2" else {}
            m = policies.get(name, cost_model=cm, **opts).on_epoch(state)
            m.validate(state)
            assert c <= cm.layer_time_ns(m.split, state)


@PROPERTY_SETTINGS
@given(epochs())
def test_every_policy_is_valid_or_says_why(case: tuple[EpochState, CostModel]) -> None:
    state, cm = case
    total = sum(state.iteration.sublayer(s).footprint_bytes() for s in SUBLAYERS)
    try:
        _, best = policies.Oracle(cost_model=cm).search(state)
    except MappingError:
        best = None
    for name in policies.names():
        if name not in (
            "lpddr_only",
            "hbm_only",
            "hierarchical",
            "naive",
            "flexgen",
            "a_major",
            "q_major",
            "f_major",
            "oracle",
            "h2m2",
        ):
            continue  # user policies registered by other tests
        p = policies.get(name, cost_model=cm)
        try:
            m = p.on_epoch(state)
        except MappingError as err:
            assert str(err).startswith(f"epoch {state.epoch}: ")
            continue
        m.validate(state)
        assert sum(footprint_by_device(m, state)) == total
        assert policies.get(name, cost_model=cm).on_epoch(state) == m
        if name in ("naive", "flexgen") and best is not None:
            assert best <= cm.layer_time_ns(m.split, state)
        if state.devices == 1:
            assert m.split == state.units


@PROPERTY_SETTINGS
@given(epochs(), st.integers(1, 400))
def test_flexgen_fractions_stay_in_range_and_static(
    case: tuple[EpochState, CostModel], extra: int
) -> None:
    state, cm = case
    longest = max(state.iteration.seq_lens)
    p = policies.FlexGen(cost_model=cm, max_seq_len=longest + extra)
    try:
        p.on_epoch(state)
    except MappingError:
        return
    assert p.fractions is not None and all(0.0 <= f <= 1.0 for f in p.fractions)
    first = p.fractions
    shorter = DecodeIteration(state.model, [max(1, L // 2) for L in state.iteration.seq_lens])
    with contextlib.suppress(MappingError):
        p.on_epoch(
            EpochState.for_iteration(state.system, shorter, capacity_bytes=state.capacity_bytes)
        )
    assert p.fractions == first and p.plans == 1
