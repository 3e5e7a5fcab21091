"""The demo federation for an empty forum (`forum demo`): accounts of every tier, categories at
different viewing levels, a few weeks of discussion, a proposal and an online meet-up, so that a
newcomer can log in and see the forum as each kind of user sees it.

What it says lives in data files (forum/demo/data/, read by content.py); writing.py and deciding.py
write it through the ordinary services, as any user would. It may import services and models, and
nothing imports it except the command line.
"""

from forum.demo.content import CATEGORIES, USERS
from forum.demo.writing import load_demo

__all__ = ["CATEGORIES", "USERS", "load_demo"]
