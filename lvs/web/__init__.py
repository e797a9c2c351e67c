"""The web side: controllers, template contexts, responses.

Every handler has the same shape, and reads like a table of contents::

    @post(
        "/",
        name="favorite",                      # templates and redirects use the name, never the path
        status_code=HTTP_303_SEE_OTHER,
        guards=[HOUSEHOLD],                   # the write limit: counted first, before anything else
        dependencies=form_of(FavoriteForm),   # the parsed, checked input, as ``form``
    )
    async def favorite(self, request, media: Media, person: uuid.UUID, form: FavoriteForm,
                       favorites: FavoriteService) -> Response[Any]:
        await favorites.set(person, media.media_hash, form.favorite)      # the one service call
        button = FavoriteButton(media.id, media.media_hash, form.favorite, ...)
        return done(request, "partials/_favorite.html", {"fav": button},  # htmx: the partial;
                    message="Added to favorites.", back=...)              # else flash + 303

What a handler names, it gets (``lvs.web.deps``): ``media`` (the present video of the path's
``media_id``, or ``media_hash`` on the rating routes, within what this person may see),
``person`` (the browser's user id: the household profile it picked, or its own, made on its first
write) or ``viewer`` (the same for reads, ``None`` until there is one), ``allowance`` (what this
person may see: a service that lists videos takes it, and adds ``allowance.where()`` to its
queries), the services, ``settings``, and the input its route declares.

Nothing is caught in a handler. Services, dependencies and guards raise (``UnknownMedia`` 404,
``InvalidInput`` 400 naming the field, ``RateLimited`` 429, ``DatabaseBusy`` 503, Litestar's HTTP
exceptions) and ``lvs.web.errors`` answers each once per kind of answer: JSON for the API, the
form's own widget where the route says so (``opt=shows_errors(render, 400, ...)``), a flash
message for htmx, the error page otherwise.

How to add an action
--------------------

1. The rule goes in a service (``lvs/services/``): a method that does the work and raises the
   errors above (``InvalidInput("must be ...", field="name", label="Tag")`` for a bad value).
2. Its input: a frozen dataclass in ``lvs/web/inputs.py`` with ``parse(fields)`` (shared by the
   form and the JSON twin when their fields are the same).
3. The form handler: copy ``FavoriteController.favorite`` (``lvs/web/household.py``): same
   decorator, a guard (``HOUSEHOLD`` or ``RATINGS``) on any write, ``form_of(YourInput)``, the
   service call, ``done(...)`` with the partial that replaces itself. If its errors belong in
   the widget, add ``opt=shows_errors(your_widget, 400)`` (see ``tag_list``).
4. The JSON twin: copy ``MediaApiController.favorite`` (``lvs/web/api.py``): the same guard and
   service, ``json_of(YourInput)``, return a dict.
5. The template links with ``url_for("route-name", ...)``; the controller goes in the one list
   in ``lvs/app.py`` if it is a new one.
6. Tests (``tests/web/``): both paths (303 and fragment), the JSON twin, 400 naming the field,
   429 (the guard), 403 without CSRF; ``tests/helpers.py`` has ``submit``, ``fragment_roots``,
   ``retry_after``, ... .
"""
