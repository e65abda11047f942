"""The fixed vocabulary the seeded accounts are drawn from."""

from __future__ import annotations

FIRST_NAMES = (
    "Ava", "Liam", "Olivia", "Noah", "Emma", "Mason", "Sophia", "Lucas", "Mia", "Ethan",
    "Isabella", "Logan", "Amelia", "James", "Harper", "Elijah", "Evelyn", "Aiden", "Abigail",
    "Jackson", "Emily", "Sebastian", "Ella", "Mateo", "Chloe", "Henry", "Grace", "Leo", "Zoe",
    "Nora",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris",
)  # fmt: skip
COMPANIES = ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Soylent")
TAGS = ("vip", "newsletter", "trial")
EMAIL_DOMAINS = ("example.com", "example.org", "example.net")
AGENT_NAMES = ("Sales Assistant", "Support Line", "Appointment Setter")
VOICES = (
    ("alloy", "Alloy", "en-US", "female"),
    ("echo", "Echo", "en-US", "male"),
    ("fable", "Fable", "en-GB", "female"),
    ("onyx", "Onyx", "en-US", "male"),
    ("nova", "Nova", "es-ES", "female"),
    ("shimmer", "Shimmer", "fr-FR", "female"),
)
WORKFLOW_NAMES = ("New lead nurture", "Missed call follow-up", "Appointment reminders")
CAMPAIGN_NAMES = ("Spring promotion", "Win-back")
CALENDAR_NAMES = ("Discovery call", "Product demo")
STAFF_NAMES = ("Dana Reyes", "Sam Patel", "Alex Kim", "Jordan Lee")
PIPELINES = (
    ("Sales", ("New", "Contacted", "Qualified", "Proposal", "Won", "Lost")),
    ("Onboarding", ("Kick-off", "Setup", "Live")),
)
CUSTOM_FIELDS = (
    ("company", "Company", "text"),
    ("plan", "Plan", "select"),
    ("seats", "Seats", "number"),
    ("renewal_date", "Renewal date", "date"),
)
PLANS = ("starter", "growth", "enterprise")
TASK_VIEWS = ("My open tasks", "Due this week", "Overdue")
QUICK_REPLIES = (
    ("Thanks", "Thanks for reaching out! We'll get back to you shortly."),
    ("Book", "You can book a time that suits you here: https://example.com/book"),
    ("Hours", "We're open Monday to Friday, 9am to 5pm."),
    ("Stop", "You have been unsubscribed and will receive no more messages."),
)
CHANNELS = (("sms", "SMS"), ("email", "E-mail"), ("whatsapp", "WhatsApp"))
EMAIL_TEMPLATES = (
    ("Welcome", "Welcome to {{company}}", "<p>Hi {{first_name}}, welcome aboard!</p>"),
    ("Reminder", "Your appointment", "<p>Hi {{first_name}}, see you on {{date}}.</p>"),
)
WORKFLOW_VARIABLES = (("support_email", "help@example.com"), ("trial_days", 14), ("region", "us"))
PRODUCTS = (("Starter plan", 49.0), ("Growth plan", 149.0), ("Enterprise plan", 499.0))
USERS = (
    ("Dana Reyes", "admin"),
    ("Sam Patel", "user"),
    ("Alex Kim", "user"),
    ("Jordan Lee", "user"),
)
INTEGRATIONS = (("google_calendar", True), ("stripe", True), ("zapier", False))
TRAFFIC_SOURCES = ("google", "facebook", "newsletter", "direct", "linkedin")
SMS_BODIES = (
    "Hi! Just checking in about your appointment.",
    "Your demo is confirmed for tomorrow at 10am.",
    "Thanks for your interest, reply YES to book a call.",
    "Reminder: your trial ends in 3 days.",
    "YES",
    "Can we move it to Friday?",
)
MEETING_TITLES = ("Discovery call", "Product demo", "Onboarding session", "Quarterly review")
