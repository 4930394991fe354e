"""What tests and benchmarks read off RabbitMQ while real Celery workers run."""


def queue_state(queue: str) -> tuple[int, int]:
    """(messages ready, consumers) of a RabbitMQ queue; (0, 0) before anyone declared it."""
    from amqp.exceptions import NotFound

    from cardiocrowd.celery import app

    with app.connection_for_write() as broker:
        try:
            declared = broker.default_channel.queue_declare(queue, passive=True)
        except NotFound:
            return 0, 0
    return declared.message_count, declared.consumer_count
