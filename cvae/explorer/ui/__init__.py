"""Streamlit pieces of the app: page chrome and navigation, the run picker and cached loaders, components."""
