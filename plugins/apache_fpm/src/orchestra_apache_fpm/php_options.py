"""The php.ini settings a web app may give, checked against what its PHP knows and written as
PHP-FPM pool lines.

No orchestra import: a ``WebApp``'s ``options`` (``{"memory_limit": "256M", ...}``, text typed
by a hosting customer, so hostile) and its ``php_version`` (``"8.2"``) come in as plain values.
:func:`option_problem` says what is wrong with one option, in one sentence the customer can act
on, or ``None``; :func:`pool_line` writes an option that passed as a line of the app's pool file
(``php_admin_value[memory_limit] = 256M``).

The table. :data:`OPTIONS` holds the settings a customer really sets, each with the
:class:`PhpOption` facts: the pattern its value must match in full, the PHP versions that know
it (``since``, ``deprecated``, ``removed``, from the PHP manual's migration guides; ``since`` is
only set for settings newer than PHP 5.6, and versions are major.minor, so a setting that came
in a patch release, such as ``max_input_vars`` in 5.3.9, is simply not gated), whether it is
written as ``php_admin_*`` (``admin``) and whether it is an On/Off flag. An option that is
deprecated in the app's PHP version is refused, like one that was removed or is not there yet.
:data:`FORBIDDEN` holds the settings no app may give (they confine the app, load code, or are
shared by every app on the server), each with the reason shown to the customer. Any other name
is refused as unknown: PHP-FPM's own ``php_value`` would only log "Unable to set" for it.

``admin``. ``php_value`` leaves a setting changeable by the app (``ini_set()``, ``.user.ini``
for the per-directory ones); ``php_admin_value`` locks it. Settings PHP only allows in
``php.ini`` (``PHP_INI_SYSTEM``: ``allow_url_fopen``, ``expose_php``, ``file_uploads``, the
realpath cache) are admin, as ``memory_limit`` is by policy (it is the app's share of the
server); everything else is left to the app, which may change it anyway.

What PHP-FPM does with a pool line. The pool file is read a line at a time by PHP's INI parser
in its normal mode, and the value then goes to the setting as text, applied when each worker
starts (the ``ACTIVATE`` stage, not ``STARTUP``). In an unquoted value ``;`` starts a comment,
``"`` and ``'`` open strings, ``${NAME}`` reads an environment variable, ``$pool`` is replaced by
the pool's name, ``~ ! | & ^ ( )`` are operators, ``[``, ``]``, ``{``, ``}`` and ``=`` are syntax,
a word that names a PHP constant is replaced by its value (``PHP_VERSION``), and the bare words
``on``, ``yes``, ``true`` become ``1`` and ``off``, ``no``, ``false``, ``none``, ``null`` become
the empty string (so an unquoted ``session.cookie_samesite = None`` would mean no SameSite at
all). Leading and trailing blanks are dropped, and a newline ends the line.

The quoting rule. No pattern of the table admits ``"``, ``'``, ``\\``, ``$``, ``;``, ``=``,
``[``, ``]``, ``{``, ``}``, a backtick, a control character (NUL, newline, CR, tab, ...), any
character outside ASCII, a blank or an operator (``~ ! | & ^ ( )``), except that
``error_reporting`` admits the operators of its expression, with at most one space either
side. :func:`pool_line` then writes:

* a flag (``flag``) as bare ``on`` or ``off``, which the parser turns into the ``1`` or empty
  string that PHP-FPM's ``php_flag`` insists on; the value may be On/Off, Yes/No, True/False
  or 1/0 in any case (the empty string, which PHP reads as off, is refused: a customer who
  typed nothing more likely forgot than meant Off);
* ``error_reporting`` bare, because it is an expression the parser must evaluate
  (``E_ALL & ~E_DEPRECATED``); its pattern admits only the ``E_*`` constants, numbers, and the
  operators ``& | ^ ~`` and one level of parentheses, so no other constant can be read;
* the On/Off words of a setting that also takes other values (``display_errors``,
  ``output_buffering``, ``zlib.output_compression``) as bare ``1`` or ``0``: an unquoted Off would
  be the empty string, and a quoted one is not a number to ``output_buffering``;
* a number or a size (``-1``, ``30``, ``256M``) bare, since it can be neither a constant's name
  nor a bare word;
* any other value in double quotes (``"Europe/Madrid"``, ``"None"``), inside which only ``"``,
  ``\\`` and ``${`` mean anything to the parser, and none of them can be in it.

Hostile values. :func:`option_problem` refuses a value that is not text, is empty, is longer than
:data:`MAX_VALUE_LENGTH` characters or holds a control character before its pattern is tried; the
patterns are compiled ASCII-only, so that no Unicode digit or case-folding lookalike (``K``
KELVIN SIGN for ``k``) can pass for an ASCII one. Names and values are shown in its sentences as
:func:`repr` cuts them, escaped and at most about 60 characters long.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from types import MappingProxyType

import attrs

__all__ = [
    "FORBIDDEN",
    "MAX_VALUE_LENGTH",
    "OPTIONS",
    "PhpOption",
    "option_problem",
    "parse_version",
    "pool_line",
]

#: The longest value accepted, in characters.
MAX_VALUE_LENGTH = 1024

#: How much of a name or value a sentence shows (of its :func:`repr`).
_SHOWN = 60


@attrs.frozen(kw_only=True)
class PhpOption:
    """One php.ini setting an app may give.

    ``pattern`` is what a value must match in full (it never matches the empty string);
    ``expected`` says it in the customer's words, to follow "is not" (``"a size like 128M, or
    -1"``). ``admin`` writes it as ``php_admin_value``/``php_admin_flag`` (the app cannot change
    it), else ``php_value``/``php_flag``; ``flag`` marks an On/Off setting, written ``on`` or
    ``off``. ``since``, ``deprecated`` and ``removed`` are the (major, minor) PHP versions that
    brought, deprecated and removed it, ``None`` where that has not happened (or, for ``since``,
    happened before PHP 5.6). ``note`` is advice shown when the app's PHP version refuses the
    setting (what to use instead), else a caveat for whoever reads the table.
    """

    name: str
    pattern: re.Pattern[str]
    expected: str
    admin: bool
    flag: bool
    since: tuple[int, int] | None = None
    deprecated: tuple[int, int] | None = None
    removed: tuple[int, int] | None = None
    note: str = ""


# --- Patterns --------------------------------------------------------------------------------

#: The words PHP reads as On and Off (any case), for flags.
_TRUE_WORDS = frozenset({"on", "yes", "true", "1"})
_FALSE_WORDS = frozenset({"off", "no", "false", "0"})
_FLAG = r"(?i:on|off|yes|no|true|false|1|0)"

#: A count: 0 or a positive number without leading zeros, at most ten digits.
_COUNT = r"(?:0|[1-9][0-9]{0,9})"
_POSITIVE = r"[1-9][0-9]{0,9}"
#: A size in bytes, with PHP's K, M and G suffixes (either case); small enough not to overflow
#: PHP's 64-bit integers (999999999G is under 2**63 bytes).
_SIZE = r"(?:0|[1-9][0-9]{0,11}|[1-9][0-9]{0,8}[KMGkmg])"
#: A character set name as PHP's encoders know them: UTF-8, ISO-8859-1, Windows-1252, EUC-JP.
_CHARSET = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,39}"

_ERROR_CONSTANTS = (
    "E_ALL",
    "E_ERROR",
    "E_WARNING",
    "E_PARSE",
    "E_NOTICE",
    "E_CORE_ERROR",
    "E_CORE_WARNING",
    "E_COMPILE_ERROR",
    "E_COMPILE_WARNING",
    "E_USER_ERROR",
    "E_USER_WARNING",
    "E_USER_NOTICE",
    "E_STRICT",
    "E_RECOVERABLE_ERROR",
    "E_DEPRECATED",
    "E_USER_DEPRECATED",
)
_ERROR_TERM = r"~?(?:" + "|".join(_ERROR_CONSTANTS) + r"|[0-9]{1,5})"
_ERROR_OPERATOR = r" ?[&|^] ?"
_ERROR_FLAT = _ERROR_TERM + "(?:" + _ERROR_OPERATOR + _ERROR_TERM + ")*"
_ERROR_ATOM = r"(?:~?\( ?" + _ERROR_FLAT + r" ?\)|" + _ERROR_TERM + ")"
_ERROR_REPORTING = r"-1|" + _ERROR_ATOM + "(?:" + _ERROR_OPERATOR + _ERROR_ATOM + ")*"

#: A time zone's name as the tz database spells them: UTC, Europe/Madrid, Etc/GMT+3,
#: America/Argentina/Buenos_Aires, America/Port-au-Prince.
_TIMEZONE = r"[A-Za-z][A-Za-z0-9_+-]{0,29}(?:/[A-Za-z0-9][A-Za-z0-9_+-]{0,29}){0,2}"
_HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"


def _compile(source: str) -> re.Pattern[str]:
    """``source`` compiled for :meth:`re.Pattern.fullmatch`, ASCII only."""
    return re.compile(source, re.ASCII)


# --- The table -------------------------------------------------------------------------------


def _value(
    name: str,
    source: str,
    expected: str,
    *,
    admin: bool = False,
    since: tuple[int, int] | None = None,
    deprecated: tuple[int, int] | None = None,
    removed: tuple[int, int] | None = None,
    note: str = "",
) -> PhpOption:
    return PhpOption(
        name=name,
        pattern=_compile(source),
        expected=expected,
        admin=admin,
        flag=False,
        since=since,
        deprecated=deprecated,
        removed=removed,
        note=note,
    )


def _flag(
    name: str,
    *,
    admin: bool = False,
    since: tuple[int, int] | None = None,
    deprecated: tuple[int, int] | None = None,
    removed: tuple[int, int] | None = None,
    note: str = "",
) -> PhpOption:
    return PhpOption(
        name=name,
        pattern=_compile(_FLAG),
        expected="On or Off",
        admin=admin,
        flag=True,
        since=since,
        deprecated=deprecated,
        removed=removed,
        note=note,
    )


_SIZE_WORDS = "a size like 128M (a number of bytes, or with K, M or G)"
_SECONDS = "a number of seconds"
_ON_OFF_OR_SIZE = "On, Off or a buffer size in bytes like 4096"

_TABLE: tuple[PhpOption, ...] = (
    # Limits.
    _value(
        "memory_limit",
        r"-1|" + _SIZE,
        "a size like 128M, or -1",
        admin=True,
        note="the app's share of the server's memory, so the app cannot raise it itself",
    ),
    _value("upload_max_filesize", _SIZE, _SIZE_WORDS),
    _value("post_max_size", _SIZE, _SIZE_WORDS + ", 0 for no limit"),
    _value(
        "max_execution_time",
        _COUNT,
        _SECONDS + ", 0 for no limit",
        note="the pool's request_terminate_timeout still ends a request that runs longer",
    ),
    _value("max_input_time", r"-1|" + _COUNT, _SECONDS + ", or -1 for max_execution_time's"),
    _value("max_input_vars", _POSITIVE, "a number of input variables like 1000"),
    _value("max_input_nesting_level", _POSITIVE, "a nesting depth like 64"),
    _value("max_file_uploads", _COUNT, "a number of files like 20"),
    _flag("file_uploads", admin=True),
    _value("default_socket_timeout", r"-1|" + _COUNT, _SECONDS + ", or -1"),
    _value("realpath_cache_size", _SIZE, _SIZE_WORDS, admin=True),
    _value("realpath_cache_ttl", _COUNT, _SECONDS, admin=True),
    _value("pcre.backtrack_limit", _POSITIVE, "a number like 1000000"),
    _value("pcre.recursion_limit", _POSITIVE, "a number like 100000"),
    _flag("pcre.jit", since=(7, 0)),
    _value("unserialize_max_depth", _COUNT, "a depth like 4096, 0 for no limit", since=(7, 4)),
    _flag("ignore_user_abort"),
    _flag("enable_post_data_reading"),
    # Errors.
    _value(
        "display_errors",
        r"(?i:on|off|yes|no|true|false|1|0|stderr|stdout)",
        "On, Off, stderr or stdout",
    ),
    _flag("display_startup_errors"),
    _flag("log_errors"),
    _flag("html_errors"),
    _flag("ignore_repeated_errors"),
    _value(
        "error_reporting",
        _ERROR_REPORTING,
        "a level like E_ALL & ~E_DEPRECATED (E_* constants, numbers and & | ^ ~ ( ))",
    ),
    _flag("zend.exception_ignore_args", since=(7, 4)),
    _value(
        "zend.exception_string_param_max_len",
        r"0|[1-9][0-9]{0,5}|1000000",
        "a length from 0 to 1000000",
        since=(8, 0),
    ),
    _value(
        "zend.assertions",
        r"0|1",
        "0 or 1 (-1 can only be set in the server's php.ini)",
        since=(7, 0),
        note=(
            "a pool can only switch assertions between 0 and 1, and not at all when the "
            "server's php.ini compiles them out (-1, production's default)"
        ),
    ),
    # Language and output.
    _value("date.timezone", _TIMEZONE, "a time zone like Europe/Madrid or UTC"),
    _value("default_charset", _CHARSET, "a character set like UTF-8"),
    _flag("short_open_tag"),
    _value("output_buffering", r"(?i:on|off|yes|no|true|false)|" + _COUNT, _ON_OFF_OR_SIZE),
    _flag("implicit_flush"),
    _value(
        "zlib.output_compression",
        r"(?i:on|off|yes|no|true|false)|" + _COUNT,
        _ON_OFF_OR_SIZE,
    ),
    _value("zlib.output_compression_level", r"-1|[0-9]", "a level from 0 to 9, or -1"),
    _value("precision", r"-1|[0-9]{1,2}", "a number of digits like 14, or -1"),
    _value("serialize_precision", r"-1|[0-9]{1,2}", "a number of digits like 17, or -1"),
    _value("variables_order", r"[EGPCS]{1,5}", "letters among E, G, P, C and S, like GPCS"),
    _value("request_order", r"[GPC]{1,3}", "letters among G, P and C, like GP"),
    _flag("allow_url_fopen", admin=True),
    _flag("expose_php", admin=True),
    _flag("mail.add_x_header"),
    _flag("zend.enable_gc"),
    _value(
        "intl.default_locale",
        r"[A-Za-z]{2,3}(?:[_-][A-Za-z0-9]{2,8}){0,3}",
        "a locale like en_US or pt-BR",
    ),
    _value("bcmath.scale", r"0|[1-9][0-9]{0,3}", "a number of decimal digits like 2"),
    # Sessions.
    _value("session.gc_maxlifetime", _POSITIVE, _SECONDS + " like 1440"),
    _value("session.gc_probability", _COUNT, "a number like 1 (0 turns collection off)"),
    _value("session.gc_divisor", _POSITIVE, "a number like 100"),
    _value("session.cookie_lifetime", _COUNT, _SECONDS + ", 0 until the browser closes"),
    _flag("session.cookie_secure"),
    _flag("session.cookie_httponly"),
    _value(
        "session.cookie_samesite",
        r"(?i:lax|strict|none)",
        "Lax, Strict or None",
        since=(7, 3),
        note="browsers only take None with session.cookie_secure On",
    ),
    _value("session.cookie_path", r"/[A-Za-z0-9._/-]{0,254}", "a path like /"),
    _value(
        "session.cookie_domain",
        r"\.?" + _HOST_LABEL + r"(?:\." + _HOST_LABEL + r"){0,126}",
        "a domain like example.com",
    ),
    _flag("session.use_strict_mode"),
    _flag("session.use_cookies"),
    _value(
        "session.name",
        r"(?=[A-Za-z0-9_]*[A-Za-z])[A-Za-z0-9_]{1,64}",
        "a name like PHPSESSID (letters, digits and _, at least one letter)",
    ),
    _value(
        "session.cache_limiter",
        r"nocache|private|public|private_no_expire",
        "nocache, private, public or private_no_expire",
    ),
    _value("session.cache_expire", _COUNT, "a number of minutes like 180"),
    _flag("session.lazy_write", since=(7, 0)),
    _flag("session.auto_start"),
    _flag("session.upload_progress.enabled"),
    _value(
        "session.serialize_handler",
        r"php|php_binary|php_serialize",
        "php, php_binary or php_serialize",
    ),
    _value(
        "session.sid_length",
        r"2[2-9]|[3-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-6]",
        "a length from 22 to 256",
        since=(7, 1),
        deprecated=(8, 4),
        note="leave session IDs at PHP's default length",
    ),
    _value(
        "session.sid_bits_per_character",
        r"[4-6]",
        "4, 5 or 6",
        since=(7, 1),
        deprecated=(8, 4),
        note="leave session IDs at PHP's default alphabet",
    ),
    # OPcache: only what a pool can change (FORBIDDEN has the shared memory's sizes).
    _flag(
        "opcache.enable",
        note="a pool can turn OPcache off for its app, not on when the server has it off",
    ),
    _flag("opcache.validate_timestamps"),
    _value("opcache.revalidate_freq", _COUNT, _SECONDS + " like 2"),
    _value(
        "opcache.jit",
        r"(?i:disable|off|on|tracing|function)|[0-9]{4}",
        "disable, off, on, tracing, function or four digits like 1255",
        since=(8, 0),
        note="the JIT only runs when the server gives it a buffer (opcache.jit_buffer_size)",
    ),
    # mbstring and iconv.
    _value(
        "mbstring.language",
        r"(?i:neutral|uni|universal|en|english|ja|japanese|ko|korean|de|german|ru|russian"
        r"|hy|armenian|tr|turkish|ua|ukrainian|zh-cn|zh-tw)",
        "a language like neutral, English or ja",
    ),
    _value(
        "mbstring.internal_encoding",
        _CHARSET,
        "a character set like UTF-8",
        deprecated=(5, 6),
        note="set default_charset instead",
    ),
    _value(
        "mbstring.http_input",
        _CHARSET,
        "a character set like UTF-8",
        deprecated=(5, 6),
        note="set default_charset instead",
    ),
    _value(
        "mbstring.http_output",
        _CHARSET,
        "a character set like UTF-8",
        deprecated=(5, 6),
        note="set default_charset instead",
    ),
    _value(
        "iconv.internal_encoding",
        _CHARSET,
        "a character set like UTF-8",
        deprecated=(5, 6),
        note="set default_charset instead",
    ),
    _value(
        "mbstring.func_overload",
        r"[0-7]",
        "a number from 0 to 7",
        deprecated=(7, 2),
        removed=(8, 0),
        note="call the mb_* functions directly",
    ),
    # Deprecated and removed: refused in the versions that dropped them, but known, so that a
    # php.ini pasted from an old server gets the reason rather than "unknown".
    _flag(
        "track_errors",
        deprecated=(7, 2),
        removed=(8, 0),
        note="use error_get_last() instead of $php_errormsg",
    ),
    _flag(
        "auto_detect_line_endings",
        deprecated=(8, 1),
        note="handle old Mac line endings in the app",
    ),
    _flag("assert.active", deprecated=(8, 3), note="use zend.assertions instead"),
    _flag("assert.bail", deprecated=(8, 3), note="use zend.assertions instead"),
    _flag("assert.warning", deprecated=(8, 3), note="use zend.assertions instead"),
    _flag(
        "assert.exception",
        since=(7, 0),
        deprecated=(8, 3),
        note="use zend.assertions instead",
    ),
    _value(
        "filter.default",
        r"[a-z_]{1,32}",
        "a filter name like unsafe_raw",
        deprecated=(8, 1),
        note="filter input in the app, with filter_input()",
    ),
    _value(
        "log_errors_max_len",
        _COUNT,
        "a length in bytes like 1024",
        removed=(8, 1),
        note="it had no effect since PHP 8.0",
    ),
    _flag("mysqli.reconnect", removed=(8, 2), note="reconnect in the app"),
    _flag("sql.safe_mode", removed=(7, 2)),
    _flag("opcache.fast_shutdown", removed=(7, 2), note="PHP shuts down fast by itself"),
    _flag("opcache.load_comments", removed=(7, 0)),
    _flag("asp_tags", removed=(7, 0), note="use <?php tags"),
    _value(
        "always_populate_raw_post_data",
        r"-1|0|1",
        "-1, 0 or 1",
        deprecated=(5, 6),
        removed=(7, 0),
        note="read php://input instead",
    ),
    _value(
        "session.hash_function",
        r"0|1|[a-z0-9]{3,16}",
        "0, 1 or a hash name like sha256",
        removed=(7, 1),
        note="session IDs come from a secure random generator since PHP 7.1",
    ),
    _value(
        "session.hash_bits_per_character",
        r"[4-6]",
        "4, 5 or 6",
        removed=(7, 1),
        note="session IDs come from a secure random generator since PHP 7.1",
    ),
    _value(
        "session.entropy_length",
        _COUNT,
        "a number of bytes like 32",
        removed=(7, 1),
        note="session IDs come from a secure random generator since PHP 7.1",
    ),
    _flag("session.bug_compat_42", deprecated=(5, 3), removed=(5, 4)),
    _flag(
        "magic_quotes_gpc",
        deprecated=(5, 3),
        removed=(5, 4),
        note="escape in the app (prepared statements for SQL)",
    ),
    _flag(
        "magic_quotes_runtime",
        deprecated=(5, 3),
        removed=(5, 4),
        note="escape in the app (prepared statements for SQL)",
    ),
    _flag(
        "register_globals",
        deprecated=(5, 3),
        removed=(5, 4),
        note="read $_GET, $_POST and $_COOKIE instead",
    ),
    _flag(
        "register_long_arrays",
        deprecated=(5, 3),
        removed=(5, 4),
        note="read $_GET, $_POST and $_SERVER instead of $HTTP_*_VARS",
    ),
    _flag(
        "safe_mode",
        deprecated=(5, 3),
        removed=(5, 4),
        note="each app is confined to its own folder by the driver instead",
    ),
    _flag("allow_call_time_pass_reference", deprecated=(5, 3), removed=(5, 4)),
    _flag("y2k_compliance", deprecated=(5, 3), removed=(5, 4)),
)

#: The php.ini settings an app may give, by name.
OPTIONS: Mapping[str, PhpOption] = MappingProxyType({option.name: option for option in _TABLE})

_HELD_BY_DRIVER = "the driver sets it to keep the app inside its own folder"
_SHARED_OPCACHE = (
    "OPcache's shared memory serves every app on the server and is sized once when PHP-FPM "
    "starts, so a pool cannot change it"
)

_APART = "it keeps the apps' cached scripts apart, so the server sets it"

#: The settings no app may give, with the reason the customer is shown.
FORBIDDEN: Mapping[str, str] = MappingProxyType(
    {
        "open_basedir": "the driver sets it to confine the app to its own folder",
        "disable_functions": "the server decides which PHP functions no app may call",
        "disable_classes": "the server decides which PHP classes no app may use",
        "upload_tmp_dir": _HELD_BY_DRIVER + " (uploads are written to its temporary folder)",
        "sys_temp_dir": _HELD_BY_DRIVER + " (temporary files go to its temporary folder)",
        "session.save_path": _HELD_BY_DRIVER + " (sessions are stored in its own folder)",
        "session.save_handler": "the driver decides where the app's sessions are stored",
        "error_log": "the driver decides where the app's PHP errors are logged",
        "mail.log": "the driver decides where mail sent by the app is logged",
        "sendmail_path": "the server decides how mail leaves it (it runs a program)",
        "mail.force_extra_parameters": "it adds options to the server's mail program",
        "auto_prepend_file": "it runs a file before every script: include it from the app",
        "auto_append_file": "it runs a file after every script: include it from the app",
        "include_path": (
            "the driver sets it for the pool; the app can add its own folders at run time with "
            "set_include_path()"
        ),
        "extension": "the server decides which PHP extensions are loaded",
        "zend_extension": "the server decides which PHP extensions are loaded",
        "extension_dir": "the server decides which PHP extensions are loaded",
        "enable_dl": "loading PHP extensions at run time is not allowed",
        "ffi.enable": "FFI calls C code directly, past every limit the server sets",
        "ffi.preload": "FFI calls C code directly, past every limit the server sets",
        "allow_url_include": (
            "it lets include() run code fetched from another server (PHP deprecated it in 7.4)"
        ),
        "user_ini.filename": "the driver decides whether the app's .user.ini files are read",
        "user_ini.cache_ttl": "the driver decides whether the app's .user.ini files are read",
        "doc_root": "the web server decides where the app's scripts are",
        "user_dir": "the web server decides where the app's scripts are",
        "cgi.fix_pathinfo": (
            "it decides which script a request runs, and a wrong value can run an uploaded file "
            "as PHP"
        ),
        "cgi.discard_path": "it decides which script a request runs",
        "opcache.memory_consumption": _SHARED_OPCACHE,
        "opcache.interned_strings_buffer": _SHARED_OPCACHE,
        "opcache.max_accelerated_files": _SHARED_OPCACHE,
        "opcache.jit_buffer_size": _SHARED_OPCACHE,
        "opcache.preload": "it runs code in PHP-FPM's master process, shared by every app",
        "opcache.preload_user": "it runs code in PHP-FPM's master process, shared by every app",
        "opcache.restrict_api": "the server decides which scripts may reset OPcache",
        "opcache.file_cache": "OPcache's file cache is shared by every app on the server",
        "opcache.lockfile_path": _SHARED_OPCACHE,
        "opcache.blacklist_filename": "the server decides which files OPcache leaves out",
        "opcache.validate_root": _APART,
        "opcache.validate_permission": _APART,
        "opcache.error_log": "the server decides where OPcache's errors are logged",
    }
)


# --- Checks ----------------------------------------------------------------------------------


def parse_version(text: str) -> tuple[int, int]:
    """``"8.2"`` as ``(8, 2)``: a PHP version as ``MAJOR.MINOR``, in ASCII digits without
    leading zeros. Raises :class:`ValueError` for anything else (``"8"``, ``"8.2.1"``,
    ``" 8.2"``, a value that is not text)."""
    match = (
        re.fullmatch(r"(0|[1-9][0-9]?)\.(0|[1-9][0-9]?)", text, re.ASCII)
        if isinstance(text, str)
        else None
    )
    if match is None:
        raise ValueError(f"the PHP version {_shown(text)} is not like 8.2")
    return int(match.group(1)), int(match.group(2))


def option_problem(name: str, value: object, php_version: str) -> str | None:
    """What is wrong with setting the php.ini option ``name`` to ``value`` for an app on PHP
    ``php_version``: ``None`` when nothing is, else one sentence naming the option.

    Refused: a name in :data:`FORBIDDEN`; a name not in :data:`OPTIONS`; an option the app's
    PHP removed, deprecated or does not have yet; a value that is not text, is empty, is longer
    than :data:`MAX_VALUE_LENGTH`, holds a control character or does not match the option's
    pattern. ``php_version`` is the app's, not the customer's text: one that
    :func:`parse_version` refuses raises its :class:`ValueError`, whatever the option.
    """
    version = parse_version(php_version)
    runs = f"(this app runs {_version(version)})"
    if not isinstance(name, str):
        return f"option names must be text, not {type(name).__name__}: {_shown(name)}"
    shown = _shown(name)
    if name in FORBIDDEN:
        return f"{shown} cannot be set by an app: {FORBIDDEN[name]}"
    option = OPTIONS.get(name)
    if option is None:
        return f"{shown} is not a php.ini setting this driver knows" + _did_you_mean(name)
    advice = f": {option.note}" if option.note else ""
    if option.removed is not None and version >= option.removed:
        return f"{shown} was removed in PHP {_version(option.removed)} {runs}{advice}"
    if option.since is not None and version < option.since:
        return f"{shown} needs PHP {_version(option.since)} or later {runs}"
    if option.deprecated is not None and version >= option.deprecated:
        return f"{shown} is deprecated since PHP {_version(option.deprecated)} {runs}{advice}"
    return _value_problem(option, value)


def pool_line(name: str, value: str) -> str:
    """The line of a PHP-FPM pool file that sets ``name`` to ``value``, by the quoting rule of
    this module's docstring: ``php_admin_value[memory_limit] = 256M``,
    ``php_flag[log_errors] = off``, ``php_value[date.timezone] = "Europe/Madrid"``.

    Only for an option :func:`option_problem` accepted (for any PHP version): raises
    :class:`ValueError` when ``name`` is not in :data:`OPTIONS` or ``value`` does not pass its
    checks.
    """
    option = OPTIONS.get(name) if isinstance(name, str) else None
    if option is None or name in FORBIDDEN:
        raise ValueError(f"{_shown(name)} is not an option a pool line can set")
    problem = _value_problem(option, value)
    if problem is not None:
        raise ValueError(problem)
    directive = ("php_admin_" if option.admin else "php_") + ("flag" if option.flag else "value")
    return f"{directive}[{option.name}] = {_rendered(option, value)}"


# --- Helpers ---------------------------------------------------------------------------------

#: Settings that take On/Off besides other values: written 1 or 0.
_ON_OFF_AS_NUMBER = frozenset({"display_errors", "output_buffering", "zlib.output_compression"})
#: Settings whose value is an INI expression, written unquoted.
_EXPRESSIONS = frozenset({"error_reporting"})
#: A value written unquoted: a number or a size (it starts with a digit or -, so it is neither a
#: constant's name nor one of the INI parser's bare words).
_BARE = re.compile(r"-?[0-9]+[KMGkmg]?", re.ASCII)
#: What no value may hold, bare or quoted (the patterns already exclude all of it).
_NEVER = frozenset("\"'\\$;=[]{}`\n\r\0")


def _value_problem(option: PhpOption, value: object) -> str | None:
    """What is wrong with ``value`` for ``option``, whatever the PHP version, or ``None``."""
    shown = _shown(option.name)
    if not isinstance(value, str):
        return f"{shown} must be given as text, not {type(value).__name__}"
    if not value:
        return f"{shown} has an empty value"
    if len(value) > MAX_VALUE_LENGTH:
        return f"{shown} has a value longer than {MAX_VALUE_LENGTH} characters"
    if any(unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") for char in value):
        return f"{shown} = {_shown(value)} contains a control character"
    if option.pattern.fullmatch(value) is None:
        return f"{shown} = {_shown(value)} is not {option.expected}"
    return None


def _rendered(option: PhpOption, value: str) -> str:
    """``value`` as the pool file writes it (see the module's docstring)."""
    if _NEVER.intersection(value):  # every pattern excludes these: a last guard
        raise ValueError(f"{_shown(option.name)} = {_shown(value)} cannot be written safely")
    word = value.lower()
    if option.flag:
        return "on" if word in _TRUE_WORDS else "off"
    if option.name in _ON_OFF_AS_NUMBER and word in _TRUE_WORDS | _FALSE_WORDS:
        return "1" if word in _TRUE_WORDS else "0"
    if option.name in _EXPRESSIONS or _BARE.fullmatch(value):
        return value
    return f'"{value}"'


def _did_you_mean(name: str) -> str:
    """`` (did you mean 'memory_limit'?)`` when ``name`` differs from a known option's only in
    case or surrounding blanks (php.ini names are case-sensitive), else ``""``."""
    folded = name.strip().lower()
    for known in OPTIONS:
        if known.lower() == folded:
            return f" (did you mean {known!r}?)"
    return ""


def _shown(text: object) -> str:
    """``text`` as a sentence shows it: its :func:`repr`, cut to about 60 characters."""
    shown = repr(text)
    return shown if len(shown) <= _SHOWN else shown[: _SHOWN - 3] + "..."


def _version(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"
