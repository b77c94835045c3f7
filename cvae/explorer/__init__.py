"""The explorer, by job: maths/ (NumPy), figures/ (Plotly), jobs/ (trainer processes), ui/ (Streamlit), classroom/
(the live class), and the message catalogue i18n. No TensorFlow."""
