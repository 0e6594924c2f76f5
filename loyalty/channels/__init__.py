"""Email, SMS and WhatsApp adapters behind one small interface.

Construction is left to the caller, who owns the shared `httpx.AsyncClient`
and closes it (one per worker process)::

    http = httpx.AsyncClient(timeout=10)
    twilio = twilio_client(account_sid, auth_token, http)
    sms = TwilioMessagesChannel(twilio, channel="sms", messaging_service_sid="MG...")
    whatsapp = TwilioMessagesChannel(twilio, channel="whatsapp", from_="+44...")
    email = SendGridEmailChannel(api_key, from_address="Shop <hi@shop.example>", http=http)
    result = await sms.send(OutboundMessage(channel="sms", to="+447700900123", body="Hi"))
"""

from loyalty.channels.base import (
    Channel,
    ChannelError,
    ChannelName,
    OutboundMessage,
    PermanentSendError,
    RetryableSendError,
    SendResult,
)
from loyalty.channels.email_sendgrid import SendGridEmailChannel
from loyalty.channels.email_smtp import SmtpEmailChannel
from loyalty.channels.segments import SmsLength, sms_length
from loyalty.channels.twilio_http import HttpxTwilioClient, twilio_client
from loyalty.channels.twilio_messages import TwilioErrorCode, TwilioMessagesChannel

__all__ = [
    "Channel",
    "ChannelError",
    "ChannelName",
    "HttpxTwilioClient",
    "OutboundMessage",
    "PermanentSendError",
    "RetryableSendError",
    "SendGridEmailChannel",
    "SendResult",
    "SmsLength",
    "SmtpEmailChannel",
    "TwilioErrorCode",
    "TwilioMessagesChannel",
    "sms_length",
    "twilio_client",
]
