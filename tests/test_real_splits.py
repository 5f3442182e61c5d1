"""Every scenario of the default and paper profiles on a release pair or on ML-1M, split from the real
mirrored files, checked against counts published independently: the release info in the mirror's
MANIFEST.md (sections 5 and 6) for the Amazon pairs, and a plain pandas count of ``ratings.dat`` for
ML-1M."""

from __future__ import annotations

import pandas as pd
import pytest

from bench.config import load_params
from bench.splits.build import build_split
from bench.splits.types import Split
from tests.conftest import REPO_ROOT, prepared_folder

PAPER = load_params(REPO_ROOT / "profiles" / "paper.yaml")
DEFAULT = load_params(REPO_ROOT / "params.yaml")

#: DisenCDR releases (MANIFEST.md section 5): per domain (train interactions, test users).
DISENCDR = {
    "disencdr-sport-cloth": {"sport": (92612, 8326), "cloth": (87829, 7540)},
    "disencdr-phone-electronic": {"phone": (50407, 2559), "electronic": (115554, 2560)},
    "disencdr-sport-phone": {"sport": (50558, 3698), "phone": (42446, 3999)},
    "disencdr-electronic-cloth": {"electronic": (210865, 13824), "cloth": (121083, 12526)},
}
#: CDRIB releases (MANIFEST.md section 6): per domain (train, valid, test) interactions.
CDRIB = {
    "cdrib-game-video": {"game": (155036, 1381, 1304), "video": (156091, 1435, 1458)},
    "cdrib-sport-cloth": {"sport": (163291, 3589, 3546), "cloth": (187880, 3156, 3085)},
}


def _release_scenarios() -> list[str]:
    return sorted(
        name for name, s in PAPER.scenarios.items() if s.dataset in DISENCDR or s.dataset in CDRIB
    )


def test_every_release_pair_and_direction_is_a_paper_scenario():
    got = {(PAPER.scenario(n).dataset, PAPER.scenario(n).target) for n in _release_scenarios()}
    want = {(ds, dom) for table in (DISENCDR, CDRIB) for ds, doms in table.items() for dom in doms}
    assert got == want
    in_grid = {s for kind in ("cdr_warm", "cdr_cold") for s in PAPER.grids[kind].scenarios}
    assert set(_release_scenarios()) <= in_grid
    # the default profile keeps at least one warm and one cold release pair
    default_grid = {kind: set(DEFAULT.grids[kind].scenarios) for kind in ("cdr_warm", "cdr_cold")}
    assert default_grid["cdr_warm"] & set(_release_scenarios())
    assert default_grid["cdr_cold"] & set(_release_scenarios())


@pytest.fixture(scope="module")
def split_of(prepared, data_work, tmp_path_factory):
    """``split_of(name, params)``: the scenario's split, built by the split stage's code from the
    real prepared dataset (prepared with the profile's options)."""
    folder = tmp_path_factory.mktemp("splits")

    def get(name: str, params=PAPER) -> Split:
        scenario = params.scenario(name)
        options = dict(params.datasets.get(scenario.dataset) or {})
        prepared(scenario.dataset, **options)
        build_split(scenario, prepared=prepared_folder(data_work, scenario.dataset, options), out=folder / name)
        return Split.read(folder / name)

    return get


@pytest.mark.parametrize("name", _release_scenarios())
def test_release_split_counts_equal_the_release(split_of, name):
    s = PAPER.scenario(name)
    split = split_of(name)
    target_users = set(split.test["user"])
    if s.dataset in DISENCDR:
        info = DISENCDR[s.dataset]
        n_test_users = info[s.target][1]
        assert len(split.test) == split.test["user"].nunique() == n_test_users
        # the carved validation items come out of the release's training rows, nothing is lost
        assert len(split.train) + len(split.valid) == sum(train for train, _ in info.values())
        assert set(split.valid["user"]) <= target_users
    else:
        info = CDRIB[s.dataset]
        _, n_valid, n_test = info[s.target]
        assert (len(split.valid), len(split.test)) == (n_valid, n_test)
        assert len(split.train) == sum(train for train, _, _ in info.values())
    audit = split.meta.get("audit", {})
    assert all(audit.values()), audit


# ----------------------------------------------------------------------------- MovieLens-1M
@pytest.fixture(scope="module")
def ml1m_positives(mirror) -> pd.DataFrame:
    """Positive ratings (>= 4) of ratings.dat, read independently of the project's parser."""
    raw = pd.read_csv(
        mirror / "ml-1m" / "ratings.dat", sep="::", engine="python", names=["u", "i", "r", "t"]
    )
    return raw[raw["r"] >= 4]


def test_ml1m_leave_last_out(split_of, ml1m_positives):
    split = split_of("ml1m-topn", DEFAULT)
    per_user = ml1m_positives.groupby("u").size()
    assert split.meta["counts"]["positive_rows"] == len(ml1m_positives) == 575_281
    # every user with >= 3 positives gets one test and one valid item, unless the item is cold
    dropped = split.meta["dropped"]["test_cold"]
    assert split.test["user"].nunique() == len(split.test) == 6_031
    assert len(split.test) + dropped == int((per_user >= 3).sum()) == 6_035
    assert len(split.train) + len(split.valid) + len(split.test) + dropped + split.meta["dropped"]["valid_cold"] == len(ml1m_positives)


def test_ml1m_temporal_keeps_only_warm_test_users(split_of, ml1m_positives):
    split = split_of("ml1m-topn-temporal", DEFAULT)
    cut = split.meta["cutoffs"]
    pos = ml1m_positives
    train = pos[pos["t"] < cut["valid_from"]]
    test = pos[pos["t"] >= cut["test_from"]]
    warm = test[test["u"].isin(train["u"]) & test["i"].isin(train["i"])]
    assert len(split.test) == len(warm) == 43_337
    assert split.test["user"].nunique() == warm["u"].nunique() == 987
    assert split.meta["dropped"]["test_cold"] == len(test) - len(warm)


def test_ml1m_genre_domains_follow_the_first_listed_genre(split_of, mirror, ml1m_positives):
    split = split_of("ml1m-genre-warm", DEFAULT)
    s = DEFAULT.scenario("ml1m-genre-warm")
    movies = pd.read_csv(
        mirror / "ml-1m" / "movies.dat", sep="::", engine="python", names=["i", "title", "g"],
        encoding="latin-1",
    )
    rated = pd.read_csv(
        mirror / "ml-1m" / "ratings.dat", sep="::", engine="python", names=["u", "i", "r", "t"]
    )["i"].unique()
    first = movies.loc[movies["i"].isin(rated), "g"].str.split("|").str[0]
    counts = split.meta["counts"]
    assert counts["items_action"] == int(first.isin(s.target_genres).sum()) == 1_281
    assert counts["items_drama"] == int(first.isin(s.source_genres).sum()) == 2_425
    assert counts["items_in_neither_group"] == 0
    # leave-one-out on the target domain: one test item per target user with enough positives
    is_target = movies.loc[movies["g"].str.split("|").str[0].isin(s.target_genres), "i"]
    target_users = ml1m_positives[ml1m_positives["i"].isin(is_target)]["u"].nunique()
    assert 0.95 * target_users < split.test["user"].nunique() <= target_users


def test_ml100k_mtl_shortfall_is_the_train_impressions_of_a_few_heavy_raters(split_of):
    """The saved impressions of the real ML-100K MTL split: of the 1,358 impressions the sampler
    cannot draw (``n_negatives`` 2), 1,275 are train impressions of 8 heavy raters whose unrated pool
    before the cut is smaller than twice their ratings; the manifest counts them per part."""
    split = split_of("ml100k-mtl", DEFAULT)
    counts = split.meta["counts"]
    assert counts["impressions_short"] == 1358
    assert counts["impressions_short_by_part"] == {
        "train": {"impressions": 1275, "users": 8},
        "valid": {"impressions": 24, "users": 4},
        "test": {"impressions": 59, "users": 3},
    }
    short_users = split.train.groupby("user")["click"].agg(["sum", "size"])
    short_users = short_users[short_users["size"] < 3 * short_users["sum"]]  # fewer than 2 negatives each
    assert len(short_users) == 8 and short_users["sum"].max() == 737


def test_ml100k_mtl_warm_protocol_keeps_every_test_user_warm(split_of, mirror):
    """The warm-user protocol on the real ML-100K ratings: per user, floor(10 %) (at least one) of
    the ratings in time order -> test and as many -> valid. Every ML-100K user has >= 20 ratings,
    so the rated counts follow from the per-user counts alone (a plain pandas count of u.data), and
    no test impression belongs to a user absent from train (86 % do under the global cut)."""
    split = split_of("ml100k-mtl-warm", DEFAULT)
    per_user = pd.read_csv(
        mirror / "ml-100k" / "u.data", sep="\t", header=None
    ).groupby(0).size()
    n_test = (per_user // 10).clip(lower=1)
    assert split.meta["positives"] == {
        "train": int((per_user - 2 * n_test).sum()), "valid": int(n_test.sum()), "test": int(n_test.sum()),
    } == {"train": 80_808, "valid": 9_596, "test": 9_596}
    assert split.meta["cold"]["test_user"] == 0
    assert split.meta["split"] == "per_user_temporal" and split.meta["audit"]["per_user_order"]
    cold = split_of("ml100k-mtl", DEFAULT)
    assert cold.meta["cold"]["test_user"] == 25_746 and len(cold.test) == 29_941  # 86.0 %


def test_ml1m_mtl_both_protocols_on_the_real_ratings(split_of, mirror):
    """ML-1M multi-task (paper profile): the warm-user protocol's rated counts follow from the
    per-user counts of ratings.dat (every user has >= 20 ratings) and no test user is cold; the
    global cut keeps the same 1,000,209 rated pairs in total and leaves cold test users."""
    per_user = pd.read_csv(mirror / "ml-1m" / "ratings.dat", sep="::", engine="python", header=None,
                           usecols=[0]).groupby(0).size()
    n_test = (per_user // 10).clip(lower=1)
    warm = split_of("ml1m-mtl-warm")
    assert warm.meta["positives"] == {
        "train": int((per_user - 2 * n_test).sum()), "valid": int(n_test.sum()), "test": int(n_test.sum()),
    }
    assert warm.meta["cold"]["test_user"] == 0
    cold = split_of("ml1m-mtl")
    assert sum(cold.meta["positives"].values()) == sum(warm.meta["positives"].values()) == 1_000_209
    assert cold.meta["cold"]["test_user"] > 0 and cold.meta["split"] == "temporal_global"
