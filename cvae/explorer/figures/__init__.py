"""Pure Plotly figure builders (arrays in, figures out; no Streamlit)."""
