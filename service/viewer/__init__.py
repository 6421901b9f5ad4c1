"""The analysts' map: a Folium (Leaflet) page served at ``/map`` that reads every layer from
the API with the user's own token, so the access rules apply to it as to any other client."""
