"""What app.py and the pages share: the way in (router, server gate, access token), title, notice, errors."""
