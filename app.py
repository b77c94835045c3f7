"""The CVAE explorer: `streamlit run app.py`. It routes to the pages of one registry, cvae.explorer.ui.nav.PAGES."""

from cvae.explorer.ui import nav

nav.navigation().run()
