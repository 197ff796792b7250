"""A small demo business app (clients, invoices, settings) for the assistant to help with."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

CLIENTS = [
    {"name": "Acme Corp", "email": "billing@acme.test", "city": "Lyon", "balance": "1,240.00"},
    {"name": "Globex", "email": "ap@globex.test", "city": "Paris", "balance": "0.00"},
    {"name": "Initech", "email": "finance@initech.test", "city": "Austin", "balance": "310.50"},
]
INVOICES = [
    {"number": "INV-1042", "client": "Acme Corp", "total": "840.00", "status": "Overdue"},
    {"number": "INV-1043", "client": "Initech", "total": "310.50", "status": "Sent"},
    {"number": "INV-1044", "client": "Globex", "total": "1,200.00", "status": "Paid"},
]


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "demo/home.html", {"clients": CLIENTS, "invoices": INVOICES})


def clients(request: HttpRequest) -> HttpResponse:
    return render(request, "demo/clients.html", {"clients": CLIENTS})


def client_new(request: HttpRequest) -> HttpResponse:
    return render(request, "demo/client_form.html")


def invoices(request: HttpRequest) -> HttpResponse:
    return render(request, "demo/invoices.html", {"invoices": INVOICES})


def invoice_new(request: HttpRequest) -> HttpResponse:
    return render(request, "demo/invoice_form.html", {"clients": CLIENTS})


def account_settings(request: HttpRequest) -> HttpResponse:
    return render(request, "demo/settings.html")
