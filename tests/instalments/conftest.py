"""The same debtor, stranger and silent mail queue as the questions tests."""

from tests.questions.conftest import _no_mail_queue, debtor, stranger  # noqa: F401
