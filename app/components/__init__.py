"""UI pieces shared by the pages: each renders one kind of result with Streamlit."""
