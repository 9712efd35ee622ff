"""E-supervision platform library (电子监察综合平台).

Everything the pages, the command line (`python -m lib`) and the tests share lives here.
Only `lib.ui` imports Streamlit; every other module runs in a plain script or a cron job.
"""
