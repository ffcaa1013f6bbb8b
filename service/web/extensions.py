"""Flask extensions, created unbound here and attached in ``create_app``."""

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf import CSRFProtect

login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
# Storage (the app's Redis) and the key prefix (per installation) are set from app config
# at init_app; without Redis the limits fall back to per-process memory rather than
# failing requests.
limiter = Limiter(get_remote_address, in_memory_fallback_enabled=True)
