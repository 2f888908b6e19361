"""The php.ini options a web app may give (orchestra_apache_fpm.php_options): every entry of the
table with a typical value and with hostile ones, the versions that know each, the forbidden
and unknown names, and the PHP-FPM pool lines written for what passes. No PHP here: what the
lines mean to PHP-FPM's INI parser is the module docstring's quoting rule, which the last tests
hold every line to."""

from __future__ import annotations

import re

import pytest
from orchestra_apache_fpm.php_options import (
    FORBIDDEN,
    MAX_VALUE_LENGTH,
    OPTIONS,
    option_problem,
    parse_version,
    pool_line,
)

from orchestra_core.testing.hostile import hostile_values

#: A value a customer would give for each option of the table (the test below checks that every
#: option has one, so a new entry needs one here).
TYPICAL: dict[str, str] = {
    "memory_limit": "256M",
    "upload_max_filesize": "64M",
    "post_max_size": "72M",
    "max_execution_time": "120",
    "max_input_time": "-1",
    "max_input_vars": "5000",
    "max_input_nesting_level": "64",
    "max_file_uploads": "20",
    "file_uploads": "On",
    "default_socket_timeout": "60",
    "realpath_cache_size": "4096K",
    "realpath_cache_ttl": "600",
    "pcre.backtrack_limit": "1000000",
    "pcre.recursion_limit": "100000",
    "pcre.jit": "1",
    "unserialize_max_depth": "4096",
    "ignore_user_abort": "Off",
    "enable_post_data_reading": "On",
    "display_errors": "Off",
    "display_startup_errors": "off",
    "log_errors": "On",
    "html_errors": "Off",
    "ignore_repeated_errors": "On",
    "error_reporting": "E_ALL & ~E_DEPRECATED & ~E_STRICT",
    "zend.exception_ignore_args": "On",
    "zend.exception_string_param_max_len": "15",
    "zend.assertions": "0",
    "date.timezone": "Europe/Madrid",
    "default_charset": "UTF-8",
    "short_open_tag": "Off",
    "output_buffering": "4096",
    "implicit_flush": "Off",
    "zlib.output_compression": "On",
    "zlib.output_compression_level": "6",
    "precision": "14",
    "serialize_precision": "-1",
    "variables_order": "GPCS",
    "request_order": "GP",
    "allow_url_fopen": "On",
    "expose_php": "Off",
    "mail.add_x_header": "On",
    "zend.enable_gc": "On",
    "intl.default_locale": "es_ES",
    "bcmath.scale": "2",
    "session.gc_maxlifetime": "7200",
    "session.gc_probability": "1",
    "session.gc_divisor": "100",
    "session.cookie_lifetime": "0",
    "session.cookie_secure": "On",
    "session.cookie_httponly": "On",
    "session.cookie_samesite": "Lax",
    "session.cookie_path": "/",
    "session.cookie_domain": "shop.example.com",
    "session.use_strict_mode": "1",
    "session.use_cookies": "1",
    "session.name": "SHOPSESSID",
    "session.cache_limiter": "nocache",
    "session.cache_expire": "180",
    "session.lazy_write": "On",
    "session.auto_start": "Off",
    "session.upload_progress.enabled": "On",
    "session.serialize_handler": "php_serialize",
    "session.sid_length": "48",
    "session.sid_bits_per_character": "6",
    "opcache.enable": "On",
    "opcache.validate_timestamps": "On",
    "opcache.revalidate_freq": "2",
    "opcache.jit": "tracing",
    "mbstring.language": "neutral",
    "mbstring.internal_encoding": "UTF-8",
    "mbstring.http_input": "UTF-8",
    "mbstring.http_output": "UTF-8",
    "iconv.internal_encoding": "UTF-8",
    "mbstring.func_overload": "0",
    "track_errors": "Off",
    "auto_detect_line_endings": "Off",
    "assert.active": "On",
    "assert.bail": "Off",
    "assert.warning": "On",
    "assert.exception": "On",
    "filter.default": "unsafe_raw",
    "log_errors_max_len": "1024",
    "mysqli.reconnect": "Off",
    "sql.safe_mode": "Off",
    "opcache.fast_shutdown": "1",
    "opcache.load_comments": "1",
    "asp_tags": "Off",
    "always_populate_raw_post_data": "-1",
    "session.hash_function": "sha256",
    "session.hash_bits_per_character": "5",
    "session.entropy_length": "32",
    "session.bug_compat_42": "Off",
    "magic_quotes_gpc": "Off",
    "magic_quotes_runtime": "Off",
    "register_globals": "Off",
    "register_long_arrays": "Off",
    "safe_mode": "Off",
    "allow_call_time_pass_reference": "Off",
    "y2k_compliance": "On",
}

#: The PHP versions the version tests walk through, oldest first.
VERSIONS = [
    "5.2",
    "5.3",
    "5.4",
    "5.5",
    "5.6",
    "7.0",
    "7.1",
    "7.2",
    "7.3",
    "7.4",
    "8.0",
    "8.1",
    "8.2",
    "8.3",
    "8.4",
]

#: A version that knows every option that is neither removed nor deprecated by 8.0 and no newer.
NEW = "8.4"

#: Values written to get out of a php-fpm pool line, or past a pattern: INI syntax (comments,
#: quotes, sections, keys, ${VAR} and $pool expansion), shell, control characters, Unicode
#: lookalikes of ASCII digits and letters, and sheer size.
INI_HOSTILE = [
    '"',
    "'",
    ";",
    "=",
    "[",
    "]",
    "{",
    "}",
    "\\",
    "`id`",
    "$(id)",
    "${HOME}",
    "$pool",
    "\n",
    "\r",
    "\0",
    "\t",
    " ",
    "\x7f",
    "\x1b[0m",
    "\u0085",
    "\u2028",
    "\u200b",
    "\ufeff",
    "é",
    "日本",
    "A" * 5000,
    "1" * 5000,
    "\n[www]\nphp_admin_value[open_basedir] = /",
    '"\nphp_admin_value[disable_functions] = "',
    "; comment",
    "1 ; comment",
    "on\noff",
]
#: Unicode lookalikes of typical values: they must not pass for the ASCII ones.
LOOKALIKES = [
    "\uff11\uff12\uff18M",  # fullwidth digits
    "128\u212a",  # KELVIN SIGN, which case-folds to k
    "\u0663\u0660",  # Arabic-Indic digits
    "\u017ftderr",  # LATIN SMALL LETTER LONG S, which case-folds to s
    "O\u0274",  # small capital N
    "UTF\u20118",  # non-breaking hyphen
    "Europe\u2215Madrid",  # division slash
]

#: What a pool line must look like: a known directive, the option's name, and one of the four
#: renderings of the quoting rule (on/off, bare number or size, double-quoted text without
#: anything the INI parser reads inside quotes, or an error_reporting expression).
LINE = re.compile(
    r"php_(?:admin_)?(?:value|flag)\[(?P<name>[a-z0-9_.]+)\] = "
    r'(?P<value>on|off|-?[0-9]+[KMGkmg]?|"[^"\\$\x00-\x1f\x7f]+"|[A-Z_0-9&|^~() ]+)',
    re.ASCII,
)


#: What a hostile value made only of these (and no longer than the limit) may be: no way out of
#: a double-quoted INI string, so it is refused or taken on its merits, not as an attack.
HARMLESS = re.compile(r"[A-Za-z0-9_.:/+~-]*", re.ASCII)


def all_hostile() -> list[str]:
    shared = [entry.value for entry in hostile_values("/tmp/orchestra-canary")]
    return INI_HOSTILE + LOOKALIKES + shared


def accepted_in(name: str) -> list[str]:
    """The versions of :data:`VERSIONS` in which ``name`` is neither new, deprecated nor
    removed, from the table's facts."""
    option = OPTIONS[name]
    accepted = []
    for text in VERSIONS:
        version = parse_version(text)
        if option.since is not None and version < option.since:
            continue
        if option.deprecated is not None and version >= option.deprecated:
            continue
        if option.removed is not None and version >= option.removed:
            continue
        accepted.append(text)
    return accepted


def a_version_for(name: str) -> str:
    """The newest version of :data:`VERSIONS` that accepts ``name`` (every option has one)."""
    accepted = accepted_in(name)
    assert accepted, f"no version of {VERSIONS[0]}..{VERSIONS[-1]} accepts {name}"
    return accepted[-1]


# --- The table itself -------------------------------------------------------------------------


def test_every_option_has_a_typical_value_here() -> None:
    assert set(TYPICAL) == set(OPTIONS)


def test_the_table_covers_what_customers_set() -> None:
    assert len(OPTIONS) >= 40
    for name in [
        "memory_limit",
        "upload_max_filesize",
        "post_max_size",
        "max_execution_time",
        "max_input_vars",
        "display_errors",
        "error_reporting",
        "date.timezone",
        "session.gc_maxlifetime",
        "session.cookie_samesite",
        "opcache.enable",
        "track_errors",
        "mbstring.func_overload",
    ]:
        assert name in OPTIONS


def test_no_name_is_both_an_option_and_forbidden() -> None:
    assert not set(OPTIONS) & set(FORBIDDEN)


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_an_entry_is_keyed_by_its_name_and_its_versions_are_in_order(name: str) -> None:
    option = OPTIONS[name]
    assert option.name == name
    assert re.fullmatch(r"[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)*", name)
    versions = [v for v in (option.since, option.deprecated, option.removed) if v is not None]
    assert versions == sorted(versions)
    assert len(set(versions)) == len(versions)
    for major, minor in versions:
        assert major in (5, 7, 8) and 0 <= minor <= 6
    assert option.expected


def test_version_facts_from_the_php_manual() -> None:
    """A few facts checked one by one, so that a slip in the table shows here by name."""
    assert OPTIONS["track_errors"].deprecated == (7, 2)
    assert OPTIONS["track_errors"].removed == (8, 0)
    assert OPTIONS["mbstring.func_overload"].deprecated == (7, 2)
    assert OPTIONS["mbstring.func_overload"].removed == (8, 0)
    assert OPTIONS["session.cookie_samesite"].since == (7, 3)
    assert OPTIONS["auto_detect_line_endings"].deprecated == (8, 1)
    assert OPTIONS["assert.active"].deprecated == (8, 3)
    assert OPTIONS["sql.safe_mode"].removed == (7, 2)
    assert OPTIONS["asp_tags"].removed == (7, 0)
    assert OPTIONS["always_populate_raw_post_data"].removed == (7, 0)
    assert OPTIONS["safe_mode"].removed == (5, 4)
    assert OPTIONS["register_globals"].removed == (5, 4)
    assert OPTIONS["magic_quotes_gpc"].removed == (5, 4)
    assert OPTIONS["mbstring.internal_encoding"].deprecated == (5, 6)
    assert OPTIONS["mbstring.internal_encoding"].removed is None
    assert OPTIONS["log_errors_max_len"].removed == (8, 1)
    assert OPTIONS["session.sid_length"].since == (7, 1)
    assert OPTIONS["session.sid_length"].deprecated == (8, 4)
    assert OPTIONS["session.hash_function"].removed == (7, 1)
    assert OPTIONS["opcache.jit"].since == (8, 0)
    assert OPTIONS["zend.exception_ignore_args"].since == (7, 4)


def test_settings_php_only_takes_from_php_ini_are_admin() -> None:
    for name in ["allow_url_fopen", "expose_php", "file_uploads", "realpath_cache_size"]:
        assert OPTIONS[name].admin
    assert OPTIONS["memory_limit"].admin
    assert not OPTIONS["max_execution_time"].admin
    assert not OPTIONS["date.timezone"].admin


# --- Patterns, over the whole table -----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_a_typical_value_matches_and_passes(name: str) -> None:
    value = TYPICAL[name]
    assert OPTIONS[name].pattern.fullmatch(value)
    assert option_problem(name, value, a_version_for(name)) is None


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_hostile_values_are_refused(name: str) -> None:
    option = OPTIONS[name]
    version = a_version_for(name)
    typical = TYPICAL[name]
    for hostile in all_hostile():
        dangerous = HARMLESS.fullmatch(hostile) is None
        if not dangerous and len(hostile) <= MAX_VALUE_LENGTH:
            continue  # "-rf", "~root": no way out of a quoted INI string, judged on their merits
        for value in {hostile, typical + hostile, hostile + typical, typical[:1] + hostile}:
            if dangerous:
                assert option.pattern.fullmatch(value) is None, (name, value)
            problem = option_problem(name, value, version)
            assert problem is not None, (name, value)
            assert repr(name) in problem
            assert "\n" not in problem and "\r" not in problem and "\0" not in problem
            with pytest.raises(ValueError):
                pool_line(name, value)


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_no_pattern_takes_a_character_the_ini_parser_reads(name: str) -> None:
    option = OPTIONS[name]
    typical = TYPICAL[name]
    for char in "\"'\\$;=[]{}`!\n\r\t\0":
        for value in (char, typical + char, char + typical, typical[:1] + char + typical[1:]):
            assert option.pattern.fullmatch(value) is None, (name, value)


@pytest.mark.parametrize("name", sorted(set(OPTIONS) - {"error_reporting"}))
def test_no_other_option_takes_spaces_or_ini_operators(name: str) -> None:
    option = OPTIONS[name]
    typical = TYPICAL[name]
    for char in " &|^~()!":
        for value in (typical + char + typical, typical + char, char + typical):
            assert option.pattern.fullmatch(value) is None, (name, value)


def test_error_reporting_takes_expressions_of_error_constants_only() -> None:
    pattern = OPTIONS["error_reporting"].pattern
    for value in [
        "E_ALL & ~E_DEPRECATED & ~E_STRICT",
        "E_ALL & ~(E_NOTICE | E_DEPRECATED)",
        "E_ALL ^ E_STRICT",
        "E_ERROR|E_WARNING|E_PARSE",
        "32767",
        "-1",
    ]:
        assert pattern.fullmatch(value), value
    for value in [
        "E_ALL & PHP_VERSION",
        "E_ALL &  E_NOTICE",
        " E_ALL",
        "E_ALL ",
        "E_ALL &",
        "!E_ALL",
        "((E_ALL))",
        "(E_ALL",
        "E_ALL)",
        "e_all",
        "-2",
        "E_ALL & ~-1",
    ]:
        assert pattern.fullmatch(value) is None, value


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_an_empty_value_is_refused(name: str) -> None:
    assert OPTIONS[name].pattern.fullmatch("") is None
    problem = option_problem(name, "", a_version_for(name))
    assert problem == f"{name!r} has an empty value"


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_a_value_that_is_not_text_is_refused(name: str) -> None:
    version = a_version_for(name)
    for value in (256, 1.5, True, None, b"256M", ["256M"]):
        problem = option_problem(name, value, version)
        assert problem == f"{name!r} must be given as text, not {type(value).__name__}"


@pytest.mark.parametrize("name", ["date.timezone", "memory_limit", "session.name"])
def test_unicode_lookalikes_are_not_ascii(name: str) -> None:
    for value in ["UTC\u00a0", "\uff35TC", "\uff12\uff15\uff16M", "256\u041c", "\u0405HOP"]:
        assert OPTIONS[name].pattern.fullmatch(value) is None


def test_the_length_limit_is_1024_characters() -> None:
    longest = "1234" + " | 1" * 255
    assert len(longest) == MAX_VALUE_LENGTH
    assert option_problem("error_reporting", longest, NEW) is None
    too_long = "12345" + " | 1" * 255
    assert option_problem("error_reporting", too_long, NEW) == (
        "'error_reporting' has a value longer than 1024 characters"
    )


def test_a_control_character_is_named_as_such() -> None:
    for value in ["256M\n", "\x00256M", "25\r6M", "256\x1bM", "256M\u2028", "\u202e256M"]:
        problem = option_problem("memory_limit", value, NEW)
        assert problem == f"'memory_limit' = {value!r} contains a control character"


def test_a_value_that_does_not_match_says_what_was_expected() -> None:
    assert option_problem("memory_limit", "1 GB", NEW) == (
        "'memory_limit' = '1 GB' is not a size like 128M, or -1"
    )
    assert option_problem("display_errors", "maybe", NEW) == (
        "'display_errors' = 'maybe' is not On, Off, stderr or stdout"
    )


def test_a_long_value_is_shown_cut() -> None:
    problem = option_problem("date.timezone", "Europe/" + "x" * 900, NEW)
    assert problem is not None
    assert problem.startswith("'date.timezone' = 'Europe/xxx")
    assert problem.endswith("... is not a time zone like Europe/Madrid or UTC")
    assert len(problem) < 150


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        (
            "memory_limit",
            ["-1", "128M", "1G", "512k", "134217728"],
            ["-2", "1.5G", "128MB", "0128M"],
        ),
        ("upload_max_filesize", ["2M", "0"], ["-1", "2 M", "2T"]),
        (
            "date.timezone",
            ["UTC", "America/Argentina/Buenos_Aires", "Etc/GMT+3"],
            ["Europe/", "/UTC"],
        ),
        ("display_errors", ["On", "off", "stderr", "STDOUT", "1", "0"], ["2", "stdin", "On,Off"]),
        ("output_buffering", ["On", "Off", "4096", "0"], ["-1", "4k", "4096 "]),
        ("session.cookie_samesite", ["Lax", "Strict", "None", "lax"], ["none of it", "Lax;"]),
        ("session.name", ["PHPSESSID", "s1", "_a"], ["123", "a-b", "a b"]),
        ("zend.assertions", ["0", "1"], ["-1", "2"]),
        (
            "error_reporting",
            ["E_ALL", "E_ALL&~E_NOTICE"],
            ["E_ALL & PHP_VERSION", "E_all", "((E_ALL))"],
        ),
        ("opcache.jit", ["tracing", "function", "1255", "off"], ["12555", "jit"]),
        ("session.sid_length", ["22", "32", "256"], ["21", "257"]),
    ],
)
def test_patterns_take_what_php_takes(name: str, good: list[str], bad: list[str]) -> None:
    pattern = OPTIONS[name].pattern
    for value in good:
        assert pattern.fullmatch(value), value
    for value in bad:
        assert pattern.fullmatch(value) is None, value


# --- Names --------------------------------------------------------------------------------------


def test_an_unknown_name_is_refused_by_name() -> None:
    assert option_problem("foo_bar", "1", NEW) == (
        "'foo_bar' is not a php.ini setting this driver knows"
    )


def test_a_name_in_the_wrong_case_gets_the_right_one_suggested() -> None:
    assert option_problem("Memory_Limit", "256M", NEW) == (
        "'Memory_Limit' is not a php.ini setting this driver knows (did you mean 'memory_limit'?)"
    )
    assert "did you mean 'date.timezone'" in (option_problem(" date.timezone", "UTC", NEW) or "")


@pytest.mark.parametrize("name", sorted(FORBIDDEN))
def test_a_forbidden_name_is_refused_with_its_reason(name: str) -> None:
    for version in ("5.6", "7.4", NEW):
        problem = option_problem(name, "1", version)
        assert problem == f"{name!r} cannot be set by an app: {FORBIDDEN[name]}"
    with pytest.raises(ValueError):
        pool_line(name, "1")


def test_what_must_be_forbidden_is() -> None:
    for name in [
        "open_basedir",
        "disable_functions",
        "disable_classes",
        "upload_tmp_dir",
        "session.save_path",
        "sys_temp_dir",
        "error_log",
        "sendmail_path",
        "mail.log",
        "auto_prepend_file",
        "auto_append_file",
        "extension",
        "zend_extension",
        "extension_dir",
        "include_path",
        "user_ini.filename",
        "doc_root",
        "user_dir",
        "cgi.fix_pathinfo",
        "enable_dl",
        "allow_url_include",
        "ffi.enable",
        "opcache.memory_consumption",
    ]:
        assert name in FORBIDDEN


def test_hostile_names_are_shown_escaped_and_cut() -> None:
    for name in all_hostile():
        problem = option_problem(name, "1", NEW)
        assert problem is not None
        assert problem.startswith(repr(name)[:20])
        assert "\n" not in problem and "\r" not in problem and "\0" not in problem
        assert len(problem) < 200
        with pytest.raises(ValueError):
            pool_line(name, "1")


def test_a_name_that_is_not_text_is_refused() -> None:
    name: object = 7
    problem = option_problem(name, "1", NEW)  # type: ignore[arg-type]
    assert problem == "option names must be text, not int: 7"


# --- Versions -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_each_version_refuses_what_it_does_not_have_or_deprecated(name: str) -> None:
    accepted = accepted_in(name)
    for version in VERSIONS:
        problem = option_problem(name, TYPICAL[name], version)
        if version in accepted:
            assert problem is None, (version, problem)
        else:
            assert problem is not None, version
            assert problem.startswith(repr(name))
            assert f"(this app runs {version})" in problem


def test_a_removed_option_says_when_and_what_instead() -> None:
    assert option_problem("track_errors", "On", "8.2") == (
        "'track_errors' was removed in PHP 8.0 (this app runs 8.2): "
        "use error_get_last() instead of $php_errormsg"
    )
    assert option_problem("sql.safe_mode", "Off", "7.2") == (
        "'sql.safe_mode' was removed in PHP 7.2 (this app runs 7.2)"
    )
    assert option_problem("sql.safe_mode", "Off", "7.1") is None


def test_a_deprecated_option_is_refused() -> None:
    assert option_problem("mbstring.func_overload", "0", "7.4") == (
        "'mbstring.func_overload' is deprecated since PHP 7.2 (this app runs 7.4): "
        "call the mb_* functions directly"
    )
    assert option_problem("mbstring.func_overload", "0", "7.1") is None
    assert option_problem("track_errors", "On", "7.4") is not None
    assert option_problem("auto_detect_line_endings", "On", "8.0") is None
    assert option_problem("auto_detect_line_endings", "On", "8.1") is not None


def test_an_option_newer_than_the_app_is_refused() -> None:
    assert option_problem("session.cookie_samesite", "Lax", "7.2") == (
        "'session.cookie_samesite' needs PHP 7.3 or later (this app runs 7.2)"
    )
    assert option_problem("session.cookie_samesite", "Lax", "7.3") is None
    assert option_problem("opcache.jit", "tracing", "7.4") is not None
    assert option_problem("opcache.jit", "tracing", "8.0") is None


def test_the_version_is_checked_before_the_value() -> None:
    assert "removed in PHP 8.0" in (option_problem("track_errors", "maybe", "8.2") or "")


@pytest.mark.parametrize(
    ("text", "version"), [("8.2", (8, 2)), ("7.4", (7, 4)), ("5.6", (5, 6)), ("8.10", (8, 10))]
)
def test_parse_version(text: str, version: tuple[int, int]) -> None:
    assert parse_version(text) == version


@pytest.mark.parametrize(
    "text",
    ["", "8", "8.", ".2", "8.2.1", " 8.2", "8.2\n", "08.2", "8.02", "v8.2", "\uff18.\uff12", "8,2"],
)
def test_parse_version_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not like 8\.2"):
        parse_version(text)


def test_parse_version_refuses_what_is_not_text() -> None:
    with pytest.raises(ValueError):
        parse_version(8.2)  # type: ignore[arg-type]


def test_a_bad_app_version_raises_whatever_the_option() -> None:
    for name in ("memory_limit", "foo_bar", "open_basedir"):
        with pytest.raises(ValueError):
            option_problem(name, "1", "8")


# --- Pool lines -----------------------------------------------------------------------------------


def test_pool_lines_for_values_flags_and_admin() -> None:
    assert pool_line("memory_limit", "256M") == "php_admin_value[memory_limit] = 256M"
    assert pool_line("max_execution_time", "120") == "php_value[max_execution_time] = 120"
    assert pool_line("max_input_time", "-1") == "php_value[max_input_time] = -1"
    assert pool_line("log_errors", "On") == "php_flag[log_errors] = on"
    assert pool_line("allow_url_fopen", "Off") == "php_admin_flag[allow_url_fopen] = off"
    assert pool_line("date.timezone", "Europe/Madrid") == (
        'php_value[date.timezone] = "Europe/Madrid"'
    )
    assert pool_line("error_reporting", "E_ALL & ~E_DEPRECATED & ~E_STRICT") == (
        "php_value[error_reporting] = E_ALL & ~E_DEPRECATED & ~E_STRICT"
    )


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("On", "on"),
        ("on", "on"),
        ("ON", "on"),
        ("1", "on"),
        ("true", "on"),
        ("Yes", "on"),
        ("Off", "off"),
        ("off", "off"),
        ("0", "off"),
        ("FALSE", "off"),
        ("no", "off"),
    ],
)
def test_flags_are_written_on_or_off(value: str, written: str) -> None:
    assert pool_line("html_errors", value) == f"php_flag[html_errors] = {written}"


def test_an_empty_flag_is_refused_not_taken_as_off() -> None:
    assert option_problem("html_errors", "", NEW) == "'html_errors' has an empty value"
    with pytest.raises(ValueError):
        pool_line("html_errors", "")


def test_on_off_of_a_setting_with_other_values_is_written_as_a_number() -> None:
    assert pool_line("display_errors", "Off") == "php_value[display_errors] = 0"
    assert pool_line("display_errors", "on") == "php_value[display_errors] = 1"
    assert pool_line("display_errors", "stderr") == 'php_value[display_errors] = "stderr"'
    assert pool_line("output_buffering", "Off") == "php_value[output_buffering] = 0"
    assert pool_line("output_buffering", "4096") == "php_value[output_buffering] = 4096"
    assert pool_line("zlib.output_compression", "yes") == ("php_value[zlib.output_compression] = 1")


def test_words_the_ini_parser_would_read_are_quoted() -> None:
    """Unquoted, ``None`` would be the empty string and ``PHP_VERSION`` PHP's version."""
    assert pool_line("session.cookie_samesite", "None") == (
        'php_value[session.cookie_samesite] = "None"'
    )
    assert pool_line("session.name", "PHP_VERSION") == 'php_value[session.name] = "PHP_VERSION"'
    assert pool_line("session.name", "yes") == 'php_value[session.name] = "yes"'
    assert pool_line("opcache.jit", "off") == 'php_value[opcache.jit] = "off"'
    assert pool_line("session.serialize_handler", "php") == (
        'php_value[session.serialize_handler] = "php"'
    )


def test_pool_line_refuses_what_option_problem_refuses() -> None:
    with pytest.raises(ValueError, match="is not a size"):
        pool_line("memory_limit", "1 GB")
    with pytest.raises(ValueError, match="must be given as text"):
        pool_line("memory_limit", 256)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        pool_line("foo_bar", "1")
    with pytest.raises(ValueError):
        pool_line("open_basedir", "/")


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_every_pool_line_keeps_to_the_quoting_rule(name: str) -> None:
    option = OPTIONS[name]
    good = [TYPICAL[name]]
    if option.flag:
        good += ["On", "off", "1", "0", "yes", "False"]
    for value in good:
        line = pool_line(name, value)
        match = LINE.fullmatch(line)
        assert match, line
        assert match["name"] == name
        assert line.startswith("php_admin_" if option.admin else "php_")
        assert ("_flag[" in line) == option.flag
        written = match["value"]
        if option.flag:
            assert written in ("on", "off")
        elif written.startswith('"'):
            assert written == f'"{value}"'
        elif name != "error_reporting":
            # bare: a number or a size, or 1 and 0 for On and Off
            assert re.fullmatch(r"-?[0-9]+[KMGkmg]?", written, re.ASCII)
