"""Operations both blueprints call: validate, change entities, flush (never commit).

Services never see `request`, `current_user` or `flash`; the view passes the actor.
"""
