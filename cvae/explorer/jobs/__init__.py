"""Training jobs of the app (no Streamlit): starting, tracking and stopping trainer processes, their progress and cost, and comparing runs."""
