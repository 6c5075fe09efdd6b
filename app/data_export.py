"""No table leaves the browser through Streamlit's own export: formula cells stay out of spreadsheets.

Every ``st.dataframe`` and ``st.data_editor`` (and a chart's table view) has a "Download as
CSV" button in its toolbar, and read-only tables copy cells to the clipboard. Both write
the values exactly as shown: an uploaded (or synthetic, copied from it) cell such as
``=HYPERLINK(...)`` or ``@SUM(A1)`` would reach a spreadsheet as a formula. The workbench's
own downloads go through ``infra.exports`` (an apostrophe in front of such cells); the
built-in ones cannot, so they are switched off for the whole app with Streamlit's
``client.disableDataExport`` option, which removes the download button (the frontend does
not render it) and the clipboard copy of read-only tables. Tables still show their cells
literally; only the export controls go. (A ``st.data_editor`` keeps copy and paste, which
its editing needs.)

``streamlit_config/config.toml`` sets the option, so the launcher passes it on start-up.
``enforce`` makes it hold however the workbench was started (``streamlit run app/main.py``
without the launcher, or an environment variable or flag turning it off): the entry script
calls it before anything is drawn.
"""

from __future__ import annotations

import streamlit as st

OPTION = "client.disableDataExport"


def enforce() -> None:
    """Switch Streamlit's built-in table export off, and start the run again if it was on.

    The option reaches the browser in the message that opens each script run, so a run that
    found it off has already told the browser "exports allowed": it is set (for the whole
    server process, every session) and the run starts over before any table is drawn. Once
    set it stays set, so this reruns at most once per server process.
    """
    if st.get_option(OPTION) is not True:
        st.set_option(OPTION, True)
        st.rerun()


__all__ = ["OPTION", "enforce"]
