"""Compile each SQL statement shape once, as SQLAlchemy's own engines do.

`databases` compiles every SQLAlchemy statement on every call (and formats a debug string for
it); on Central's hot paths that was about a quarter of the CPU. SQLAlchemy's engines avoid the
work with a cache keyed by the statement's structure, re-binding only the values; this backend
does the same for MySQL, the database Central serves from in the cloud.

Statements whose SQL text depends on their values (IN lists, literal-rendered parameters) and
those without a cache key (multi-row INSERTs) are compiled every time, as before.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from databases import Database
from databases.backends.mysql import CompilationContext, MySQLBackend, MySQLConnection
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.ddl import DDLElement

MAX_STATEMENTS = 500
_VALUE_DEPENDENT = object()  # this shape's SQL text changes with its values: never cached


class CachingMySQLConnection(MySQLConnection):
    _cache: OrderedDict[Any, Any]

    def _compile(self, query: ClauseElement) -> Any:
        if isinstance(query, DDLElement):
            return super()._compile(query)
        cache_key = query._generate_cache_key()
        if cache_key is None:
            return super()._compile(query)
        key = cache_key.key  # the statement's structure; its values are cache_key.bindparams
        compiled: Any = self._cache.get(key)
        if compiled is _VALUE_DEPENDENT:
            return super()._compile(query)
        if compiled is None:
            compiled = query.compile(
                dialect=self._dialect,
                cache_key=cache_key,  # lets later calls re-bind their own values
                compile_kwargs={"render_postcompile": True},
            )
            if compiled.post_compile_params or compiled.literal_execute_params:
                self._remember(key, _VALUE_DEPENDENT)
                return super()._compile(query)
            self._remember(key, compiled)
        else:
            self._cache.move_to_end(key)
        return self._bind(compiled, cache_key.bindparams)

    def _remember(self, key: Any, value: Any) -> None:
        self._cache[key] = value
        if len(self._cache) > MAX_STATEMENTS:
            self._cache.popitem(last=False)

    def _bind(self, compiled: Any, bindparams: Any) -> Any:
        """This call's values for a cached statement: SQLAlchemy's extracted-parameters path.

        The attributes read here are the ones `databases`' own _compile reads (SQLAlchemy 2.x).
        """
        args = dict(compiled.construct_params(extracted_parameters=bindparams))
        processors = compiled._bind_processors
        for name, value in args.items():
            if name in processors:
                args[name] = processors[name](value)
        context = self._dialect.execution_ctx_cls()
        context.dialect = self._dialect
        context.result_column_struct = (
            compiled._result_columns,
            compiled._ordered_columns,
            compiled._textual_ordered_columns,
            compiled._ad_hoc_textual,
            compiled._loose_column_name_matching,
        )
        return compiled.string, args, compiled._result_columns, CompilationContext(context)


class CachingMySQLBackend(MySQLBackend):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._statements: OrderedDict[Any, Any] = OrderedDict()

    def connection(self) -> MySQLConnection:
        connection = CachingMySQLConnection(self, self._dialect)
        connection._cache = self._statements
        return connection


class CentralDatabase(Database):
    """`databases.Database`, with the statement cache on MySQL."""

    SUPPORTED_BACKENDS = {
        **Database.SUPPORTED_BACKENDS,
        "mysql+aiomysql": "central.statement_cache:CachingMySQLBackend",
    }
