"""roleredis.table.roles: who is calling (issue 2, section 2).

Precedence: explicit role= > acting_as() > ROLEREDIS_ROLE > file under roles/<name>/ > default.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import logging
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

import roleredis
from roleredis.foundation.config import Settings
from roleredis.foundation.errors import InvalidArgumentError
from roleredis.table import roles
from roleredis.table.roles import acting_as, current, role_from_path

_ids = itertools.count()


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    # current() reads ROLEREDIS_ROLE and the default role from the process-wide settings:
    # start each test from a clean environment, no config file, nothing cached.
    for name in ("ROLEREDIS_ROLE", "ROLEREDIS_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    roleredis.reset()
    roles._reset_for_tests()
    yield
    roles._reset_for_tests()
    monkeypatch.delenv("ROLEREDIS_ROLE", raising=False)
    roleredis.reset()


@pytest.fixture
def make_module(tmp_path: Path) -> Iterator[Callable[[str, str], ModuleType]]:
    """``make_module("roles/weather/lifecycle.py", source)``: write under tmp_path, import."""
    names: list[str] = []

    def make(relative: str, source: str) -> ModuleType:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")
        name = f"_roleredis_unit_roles_{next(_ids)}"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        names.append(name)
        spec.loader.exec_module(module)
        return module

    yield make
    for name in names:
        sys.modules.pop(name, None)


def who_source(tag: str) -> str:
    """A module whose functions call current(). ``tag`` (a docstring) keeps the code objects of
    two such modules distinct; see test_identical_code_in_two_role_files_keeps_each_role."""
    return f"""
from roleredis.table.roles import current

def who(*args, **kwargs):
    "who {tag}"
    return current(*args, **kwargs)

def call(fn, *args, **kwargs):
    "call {tag}"
    return fn(*args, **kwargs)
"""


def role_module(make: Callable[[str, str], ModuleType], relative: str) -> ModuleType:
    return make(relative, who_source(relative))


@pytest.fixture
def env_role(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Set ROLEREDIS_ROLE; it is read with the settings, so forget the cached ones."""

    def set_role(value: str) -> None:
        monkeypatch.setenv("ROLEREDIS_ROLE", value)
        roleredis.reset()

    return set_role


def _default_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "roleredis.roles" and r.levelno == logging.WARNING and "default" in r.message
    ]


# --------------------------------------------------------------------------- precedence


def test_detected_from_file_under_roles_dir(make_module: Callable[..., ModuleType]) -> None:
    weather = role_module(make_module, "roles/weather/lifecycle.py")
    assert weather.who() == "weather"


def test_explicit_beats_everything(
    make_module: Callable[..., ModuleType], env_role: Callable[[str], None]
) -> None:
    weather = role_module(make_module, "roles/weather/lifecycle.py")
    env_role("from_env")
    with acting_as("acting"):
        assert weather.who("explicit") == "explicit"
        assert current("explicit") == "explicit"


def test_acting_as_beats_env_and_file(
    make_module: Callable[..., ModuleType], env_role: Callable[[str], None]
) -> None:
    weather = role_module(make_module, "roles/weather/lifecycle.py")
    env_role("from_env")
    with acting_as("acting"):
        assert weather.who() == "acting"


def test_env_beats_file(
    make_module: Callable[..., ModuleType], env_role: Callable[[str], None]
) -> None:
    weather = role_module(make_module, "roles/weather/lifecycle.py")
    env_role("from_env")
    assert weather.who() == "from_env"
    assert current() == "from_env"


def test_empty_env_is_ignored(
    make_module: Callable[..., ModuleType], env_role: Callable[[str], None]
) -> None:
    weather = role_module(make_module, "roles/weather/lifecycle.py")
    env_role("")
    assert weather.who() == "weather"


def test_file_beats_default(
    make_module: Callable[..., ModuleType], caplog: pytest.LogCaptureFixture
) -> None:
    weather = role_module(make_module, "roles/weather/lifecycle.py")
    with caplog.at_level(logging.WARNING, logger="roleredis"):
        assert weather.who() == "weather"
    assert _default_warnings(caplog) == []


def test_default_role_with_exactly_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="roleredis"):
        assert current() == "unknown"
        assert current() == "unknown"
        assert current() == "unknown"
    warnings = _default_warnings(caplog)
    assert len(warnings) == 1
    assert "unknown" in warnings[0].getMessage()


def test_default_role_name_is_configurable(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="roleredis"):
        assert current(None, Settings(default_role="fallback")) == "fallback"
    assert len(_default_warnings(caplog)) == 1


def test_role_from_settings_beats_file(make_module: Callable[..., ModuleType]) -> None:
    weather = role_module(make_module, "roles/weather/lifecycle.py")
    assert weather.who(None, Settings(role="from_settings")) == "from_settings"
    assert weather.who(None, Settings()) == "weather"


def test_warning_again_after_reset_for_tests(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="roleredis"):
        current()
        roles._reset_for_tests()
        current()
    assert len(_default_warnings(caplog)) == 2


def test_no_warning_when_role_is_known(
    caplog: pytest.LogCaptureFixture, env_role: Callable[[str], None]
) -> None:
    with caplog.at_level(logging.WARNING, logger="roleredis"):
        current("x")
        with acting_as("y"):
            current()
        env_role("z")
        assert current() == "z"
    assert caplog.records == []


# --------------------------------------------------------------------------- invalid input


def test_invalid_explicit_role_refused() -> None:
    with pytest.raises(InvalidArgumentError):
        current("a:b")
    with pytest.raises(InvalidArgumentError):
        current("")


def test_invalid_env_role_names_the_variable(env_role: Callable[[str], None]) -> None:
    env_role("bad:role")
    with pytest.raises(InvalidArgumentError) as info:
        current()
    assert "ROLEREDIS_ROLE" in str(info.value)
    assert info.value.error_code == "invalid_argument"


def test_invalid_env_role_still_loses_to_explicit_and_acting_as(
    env_role: Callable[[str], None],
) -> None:
    env_role("bad role")
    assert current("ok") == "ok"
    with acting_as("ok2"):
        assert current() == "ok2"


@pytest.mark.parametrize("bad", ["", "a:b", "a*", "x" * 65, "my role"])
def test_acting_as_refuses_invalid_role(bad: str) -> None:
    with pytest.raises(InvalidArgumentError):
        acting_as(bad)


# --------------------------------------------------------------------------- acting_as


def test_acting_as_context_manager_returns_role_and_restores() -> None:
    with acting_as("weather") as role:
        assert role == "weather"
        assert current() == "weather"
    assert roles._acting.get() is None


def test_acting_as_nested() -> None:
    with acting_as("outer"):
        assert current() == "outer"
        with acting_as("inner"):
            assert current() == "inner"
        assert current() == "outer"
    assert roles._acting.get() is None


def test_acting_as_same_instance_reentrant() -> None:
    ctx = acting_as("weather")
    with ctx:
        with acting_as("timer"):
            with ctx:
                assert current() == "weather"
            assert current() == "timer"
        assert current() == "weather"
    assert roles._acting.get() is None


def test_acting_as_restores_after_exception() -> None:
    with pytest.raises(RuntimeError), acting_as("weather"):
        raise RuntimeError("boom")
    assert roles._acting.get() is None


def test_acting_as_sync_decorator() -> None:
    @acting_as("timer")
    def tick(x: int) -> tuple[str, int]:
        """Docstring kept."""
        return current(), x

    assert tick(5) == ("timer", 5)
    assert tick.__name__ == "tick"
    assert tick.__doc__ == "Docstring kept."
    assert roles._acting.get() is None


def test_acting_as_sync_decorator_restores_after_exception() -> None:
    @acting_as("timer")
    def fail() -> None:
        raise ValueError("x")

    with pytest.raises(ValueError):
        fail()
    assert roles._acting.get() is None


def test_acting_as_async_decorator() -> None:
    @acting_as("timer")
    async def tick() -> str:
        await asyncio.sleep(0)
        return current()

    assert asyncio.iscoroutinefunction(tick)
    assert asyncio.run(tick()) == "timer"
    assert roles._acting.get() is None


def test_async_decorator_does_not_leak_into_concurrent_tasks() -> None:
    @acting_as("timer")
    async def as_timer() -> str:
        await asyncio.sleep(0.01)
        return current()

    async def plain() -> str | None:
        await asyncio.sleep(0.005)  # runs while as_timer() is suspended inside its role
        return roles._acting.get()

    async def main() -> list[str | None]:
        return list(await asyncio.gather(as_timer(), plain()))

    assert asyncio.run(main()) == ["timer", None]


def test_asyncio_tasks_inherit_acting_as() -> None:
    async def child() -> str:
        await asyncio.sleep(0)
        return current()

    async def main() -> tuple[str, list[str]]:
        with acting_as("weather"):
            task = asyncio.create_task(child())
            gathered = asyncio.gather(child(), child())
        # the tasks were created inside the block: they keep the role after it ends
        return await task, list(await gathered)

    assert asyncio.run(main()) == ("weather", ["weather", "weather"])


def test_asyncio_to_thread_inherits_acting_as() -> None:
    async def main() -> str:
        with acting_as("weather"):
            return await asyncio.to_thread(current)

    assert asyncio.run(main()) == "weather"


def test_new_thread_does_not_see_acting_as(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []
    with acting_as("weather"):
        thread = threading.Thread(target=lambda: seen.append(current()))
        thread.start()
        thread.join()
    assert seen == ["unknown"]


def test_thread_started_with_copied_context_sees_acting_as() -> None:
    import contextvars

    seen: list[str] = []
    with acting_as("weather"):
        ctx = contextvars.copy_context()
        thread = threading.Thread(target=lambda: ctx.run(lambda: seen.append(current())))
        thread.start()
        thread.join()
    assert seen == ["weather"]


def test_threads_resolve_their_own_role(make_module: Callable[..., ModuleType]) -> None:
    weather = role_module(make_module, "roles/weather/lifecycle.py")
    timer = role_module(make_module, "roles/timer/lifecycle.py")
    out: dict[str, list[str]] = {"w": [], "t": []}

    def run(fn: Callable[[], str], into: list[str]) -> None:
        for _ in range(200):
            into.append(fn())

    threads = [
        threading.Thread(target=run, args=(weather.who, out["w"])),
        threading.Thread(target=run, args=(timer.who, out["t"])),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(out["w"]) == {"weather"}
    assert set(out["t"]) == {"timer"}


# --------------------------------------------------------------------------- frames


def test_identical_code_in_two_role_files_keeps_each_role(
    make_module: Callable[..., ModuleType],
) -> None:
    """Two roles with the same lifecycle code (the guide's own example: both write "forecast").

    CPython code objects compare equal (and hash equal) when their code is identical, whatever
    their co_filename: a cache keyed by code object must not hand one role's name to the other.
    """
    source = """
    from roleredis.table.roles import current
    def who():
        return current()
    """
    weather = make_module("roles/weather/lifecycle.py", source)
    timer = make_module("roles/timer/lifecycle.py", source)
    assert weather.who() == "weather"
    assert timer.who() == "timer"


def test_nearest_role_frame_wins(make_module: Callable[..., ModuleType]) -> None:
    weather = role_module(make_module, "roles/weather/lifecycle.py")
    timer = role_module(make_module, "roles/timer/lifecycle.py")
    # timer's code calls weather's function, which calls current(): weather is nearest
    assert timer.call(weather.who) == "weather"
    assert weather.call(timer.who) == "timer"


def test_helper_outside_roles_resolves_to_its_caller(
    make_module: Callable[..., ModuleType],
) -> None:
    helper = role_module(make_module, "lib/helpers.py")
    weather = role_module(make_module, "roles/weather/lifecycle.py")
    timer = role_module(make_module, "roles/timer/lifecycle.py")
    # the same helper code object, called from two roles: each call sees its own caller
    assert weather.call(helper.who) == "weather"
    assert timer.call(helper.who) == "timer"
    assert weather.call(helper.who) == "weather"


def test_shared_tools_dir_is_not_a_role(make_module: Callable[..., ModuleType]) -> None:
    shared = role_module(make_module, "roles/shared_tools/redis_tools.py")
    weather = role_module(make_module, "roles/weather/lifecycle.py")
    assert weather.call(shared.who) == "weather"
    assert shared.who(None, Settings(default_role="dflt")) == "dflt"


def test_file_outside_roles_gives_default(make_module: Callable[..., ModuleType]) -> None:
    plain = role_module(make_module, "app/main.py")
    assert plain.who() == "unknown"


def test_nested_subdirectory_of_a_role(make_module: Callable[..., ModuleType]) -> None:
    deep = role_module(make_module, "roles/weather/sub/deeper/mod.py")
    assert deep.who() == "weather"


def test_detection_from_module_level_code(make_module: Callable[..., ModuleType]) -> None:
    module = make_module(
        "roles/timer/startup.py",
        """
        from roleredis.table.roles import current
        ROLE_AT_IMPORT = current()
        """,
    )
    assert module.ROLE_AT_IMPORT == "timer"


def test_detection_inside_lambda_comprehension_and_generator(
    make_module: Callable[..., ModuleType],
) -> None:
    module = make_module(
        "roles/weather/shapes.py",
        """
        from roleredis.table.roles import current
        lam = lambda: current()
        def comp():
            return [current() for _ in range(2)]
        def gen():
            yield current()
        """,
    )
    assert module.lam() == "weather"
    assert module.comp() == ["weather", "weather"]
    assert list(module.gen()) == ["weather"]


def test_detection_inside_async_function_of_a_role(
    make_module: Callable[..., ModuleType],
) -> None:
    module = make_module(
        "roles/weather/aio.py",
        """
        import asyncio
        from roleredis.table.roles import current
        async def who():
            await asyncio.sleep(0)
            return current()
        """,
    )
    assert asyncio.run(module.who()) == "weather"


def test_local_variable_named_role_does_not_change_result(
    make_module: Callable[..., ModuleType],
) -> None:
    # pitfall: the guide's implementation read frame locals; a stray `role` changed the prefix
    role = "evil"  # noqa: F841 -- the point of the test
    roles_ = "evil"  # noqa: F841
    assert current() == "unknown"
    module = make_module(
        "roles/weather/locals.py",
        """
        from roleredis.table.roles import current
        def who():
            role = "evil"
            role_name = "evil"
            self = "evil"
            return current()
        def outer(fn):
            role = "evil"
            return fn()
        """,
    )
    assert module.who() == "weather"
    plain = make_module(
        "lib/plain.py",
        """
        from roleredis.table.roles import current
        def who():
            role = "evil"
            return current()
        """,
    )
    assert module.outer(plain.who) == "weather"
    assert plain.who() == "unknown"


def test_detection_is_stable_across_calls(make_module: Callable[..., ModuleType]) -> None:
    weather = role_module(make_module, "roles/weather/lifecycle.py")
    assert [weather.who() for _ in range(3)] == ["weather"] * 3
    roles._reset_for_tests()  # a cold cache gives the same answer
    assert weather.who() == "weather"


def test_ignores_invalid_role_directory_with_warning(
    make_module: Callable[..., ModuleType], caplog: pytest.LogCaptureFixture
) -> None:
    bad = role_module(make_module, "roles/my role/mod.py")
    with caplog.at_level(logging.WARNING, logger="roleredis"):
        assert bad.who() == "unknown"
    assert any("my role" in r.getMessage() for r in caplog.records)


def test_roleredis_package_frames_are_skipped() -> None:
    assert role_from_path(roles.__file__) == ""


# --------------------------------------------------------------------------- role_from_path


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/app/roles/weather/lifecycle.py", "weather"),
        ("/app/roles/timer/lifecycle.py", "timer"),
        ("/app/roles/weather/sub/deeper/x.py", "weather"),
        ("/app/roles/weather-v2.1_x/lifecycle.py", "weather-v2.1_x"),
        ("/app/roles/shared_tools/redis_tools.py", ""),
        ("/app/roles/shared_tools/sub/x.py", ""),
        ("/app/roles/__pycache__/x.cpython-311.pyc", ""),
        ("/app/roles/lifecycle.py", ""),
        ("/app/roles/", ""),
        ("/app/main.py", ""),
        ("/app/myroles/weather/x.py", ""),
        ("/app/roles_old/weather/x.py", ""),
        ("/app/role/weather/x.py", ""),
        ("<stdin>", ""),
        ("<string>", ""),
        ("", ""),
        ("C:\\app\\roles\\weather\\lifecycle.py", "weather"),
        ("C:\\app\\roles\\shared_tools\\redis_tools.py", ""),
        ("C:/app\\roles/weather\\lifecycle.py", "weather"),
        ("\\\\server\\share\\roles\\timer\\x.py", "timer"),
        ("/app/roles/x" + "y" * 64 + "/lifecycle.py", ""),  # 65 characters: not a role
        ("/app/roles/a:b/x.py", ""),
        ("/app/roles/a*b/x.py", ""),
    ],
)
def test_role_from_path(path: str, expected: str) -> None:
    assert role_from_path(path) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # the innermost roles/<name>/ wins, whether or not a directory sits between the two
        ("/app/roles/weather/vendor/roles/timer/x.py", "timer"),
        ("/app/roles/weather/roles/timer/x.py", "timer"),
        ("C:\\app\\roles\\weather\\roles\\timer\\x.py", "timer"),
    ],
)
def test_role_from_path_nested_roles_dirs(path: str, expected: str) -> None:
    assert role_from_path(path) == expected


def test_detection_cost_is_small(make_module: Callable[..., ModuleType]) -> None:
    # A sanity bound, not a benchmark (issue 2 asks ~1 us warm): a generous 100 us per call
    # catches a return to inspect.stack() (milliseconds under pytest's deep stack).
    import time

    weather = make_module(
        "roles/weather/bench.py",
        """
        from roleredis.table.roles import current
        def many(n):
            for _ in range(n):
                current()
        """,
    )
    weather.many(10)  # warm the cache
    started = time.perf_counter()
    weather.many(10_000)
    per_call = (time.perf_counter() - started) / 10_000
    assert per_call < 100e-6, f"{per_call * 1e6:.1f} us per call"
