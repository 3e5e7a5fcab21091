"""Path convertors for page routes.

`{topic_id:id}` matches digits only (up to 18, so the value always fits a database integer) and
hands the route a string, as a plain `{topic_id}` would. Page routes that use it can be matched
before the JSON and RSS routes: `/t/slug/5.json` is not a topic page.
"""

from starlette.convertors import StringConvertor, register_url_convertor


class IdConvertor(StringConvertor):
    regex = "[0-9]{1,18}"


register_url_convertor("id", IdConvertor())
