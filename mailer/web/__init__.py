"""The web faces of mailer: WSGI apps served by ``mailer web``."""
