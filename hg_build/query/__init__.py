"""HomeGallery's query language: text -> AST (`parser`) -> parameterised SQL (`compile`).

hg-serve imports `parse` and `compile_query` from here; user text never becomes SQL code.
"""

from hg_build.query.compile import compile_query
from hg_build.query.errors import QueryError
from hg_build.query.parser import parse

__all__ = ["QueryError", "compile_query", "parse"]
