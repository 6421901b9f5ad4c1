"""The Folium part of the map page (``service.viewer.page``): the Leaflet map, its panes, one
feature group per layer, the layer control, and the panels with the call that starts the page's
script. Imported when a process builds its first page."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import folium
from branca.element import Figure, MacroElement
from folium.map import CustomPane
from folium.template import Template

from service.i18n import LANGUAGE, _, language_name, languages
from service.viewer import assets, styles
from service.viewer.messages import MESSAGES, messages


class MapApp(MacroElement):
    """The panels (sign-in, search and period, legend, status) and the call that starts the
    page's script with the map, its feature groups and the layer control."""

    def __init__(
        self,
        control: folium.LayerControl,
        groups: dict[str, folium.FeatureGroup],
        config: dict[str, Any],
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "CivopMap"
        self._template = _app_template()
        self.control = control
        self.groups = groups
        self.config = config
        self.legend = styles.legend(alerts="alerts" in groups)
        self.messages = messages()
        self.categories = [
            {"value": str(k), "label": styles.label(str(k)), "colour": c}
            for k, c in styles.INCIDENT_COLOURS.items()
        ]
        language = LANGUAGE.get()
        self.language = language
        self.languages = [{"code": code, "name": language_name(code)} for code in languages()]


@lru_cache(maxsize=1)
def _app_template() -> Template:
    """The panels and the start-up call (read when the first page is built)."""
    template: Template = Template(
        "{% macro html(this, kwargs) %}"
        + (assets.TEMPLATES / "panels.html").read_text()
        + "{% endmacro %}"
        + """
        {% macro script(this, kwargs) %}
            civopMap.start({{ this._parent.get_name() }}, {
                control: {{ this.control.get_name() }},
                groups: {
                {%- for key, group in this.groups.items() %}
                    {{ key|tojson }}: {{ group.get_name() }},
                {%- endfor %}
                },
            }, {{ this.config|tojson }});
        {% endmacro %}
        """
    )
    return template


def draw(
    *,
    mission_bbox: tuple[float, float, float, float],
    basemap_url: str,
    panes: dict[str, int],
    layers: list[tuple[str, str, bool]],
    config: dict[str, Any],
) -> str:
    """The page's HTML in the current language: the map fitted to ``mission_bbox``, its
    ``panes`` (name and z-index), a basemap from ``basemap_url`` if one is given, one feature
    group per layer of ``layers`` (key, name to translate, shown on opening) and the script's
    ``config``."""
    west, south, east, north = mission_bbox
    fmap = folium.Map(
        location=[(south + north) / 2, (west + east) / 2],
        zoom_start=7,
        tiles=None,
        control_scale=True,
        min_zoom=3,
        max_zoom=18,
        font_size="13px",
    )
    # Folium's defaults load Leaflet, jQuery, Bootstrap and fonts from CDNs: the map needs none
    # of that but Leaflet, and loads everything from the service itself.
    fmap.default_js = [(f"civop_js_{i}", "/static/" + s) for i, s in enumerate(assets.SCRIPTS)]
    fmap.default_css = [
        (f"civop_css_{i}", "/static/" + s) for i, s in enumerate(assets.STYLESHEETS)
    ]
    figure = fmap.get_root()
    assert isinstance(figure, Figure)
    figure.title = _(MESSAGES["page.title"])
    figure.header.add_child(
        folium.Element('<link rel="icon" type="image/svg+xml" href="/static/viewer/favicon.svg">'),
        name="civop_favicon",
    )
    fmap.fit_bounds([[south, west], [north, east]])
    for pane, z_index in panes.items():
        CustomPane(pane, z_index=z_index, pointer_events=False).add_to(fmap)

    if basemap_url:
        folium.TileLayer(tiles=basemap_url, attr="Basemap", name="Basemap", overlay=True).add_to(
            fmap
        )
    groups = {key: folium.FeatureGroup(name=_(name), show=shown) for key, name, shown in layers}
    for group in groups.values():
        group.add_to(fmap)
    control = folium.LayerControl(position="topright", collapsed=False)
    control.add_to(fmap)

    MapApp(control, groups, config).add_to(fmap)
    html: str = figure.render()
    return html
