from celery import shared_task

from opply.orders.idempotency import delete_expired


@shared_task(ignore_result=True)
def delete_expired_idempotency_records() -> int:
    return delete_expired()
