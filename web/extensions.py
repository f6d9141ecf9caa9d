"""Extension instances, created unbound so blueprints can import them without the app."""

from flask import session
from flask_babel import Babel
from flask_login import LoginManager
from flask_mail import Mail
from flask_migrate import Migrate
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf import CSRFProtect



class StaffLoginManager(LoginManager):
    """Flask-Login's "strong" session protection, for sessions with a login only.

    Upstream also checks an anonymous session that holds anything (a debtor's CSRF token)
    and, finding no fingerprint in it, marks it "clear" on every page it renders: a cleared
    remember cookie and a re-signed session cookie on every response, with nothing to protect.
    """

    def _session_protection_failed(self) -> bool:
        return "_user_id" in session and super()._session_protection_failed()


babel = Babel()
csrf = CSRFProtect()
login_manager = StaffLoginManager()
mail = Mail()
migrate = Migrate()
limiter = Limiter(key_func=get_remote_address, default_limits=[])
