from celery import shared_task

from opply.orders.idempotency import delete_expired


@shared_task(ignore_result=True)
def delete_expired_idempotency_records() -> int:
    return delete_expired()


@shared_task(ignore_result=True)
def relay_outbox() -> int:
    """Publish events committed but never published (a crash between commit and publish)."""
    from opply.orders import outbox

    return outbox.relay()


@shared_task(ignore_result=True)
def delete_sent_outbox() -> int:
    from opply.orders import outbox

    return outbox.delete_sent()


@shared_task(ignore_result=True, acks_late=True)
def publish_events(ids: list[int]) -> int:
    """Publish outbox rows the fulfilment consumer committed (opply.orders.outbox.hand_over_to_pool)."""
    from opply.orders import outbox

    return outbox.publish_rows(ids)


@shared_task(ignore_result=True)
def settle_stray_order_holds() -> int:
    """Give back what decided orders still hold in the availability store (opply.orders.stray_holds)."""
    from opply.orders.stray_holds import settle_stray_holds

    return settle_stray_holds()
