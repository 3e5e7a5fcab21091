"""A demo federation for an empty forum: accounts of every tier, categories at different viewing
levels, and a few weeks of discussion, so that a newcomer can log in and see the forum as each kind
of user sees it.

Everything is written through the services (accounts, categories, posting), in one transaction, and
then moved back in time: the services stamp "now", so the posts, topics, likes and accounts get
plausible past timestamps afterwards.
"""

from __future__ import annotations

import random
import textwrap
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from forum import accounts, categories, permissions, posting
from forum.config import Settings
from forum.db import Database
from forum.errors import ForumError
from forum.models import CREATE, NONE, REPLY, SEE, Category, Post, PostAction, Topic, User
from forum.permissions import Viewer

# --- accounts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoUser:
    username: str
    name: str
    email: str
    tier: str
    role: str
    moderator: bool = False
    admin: bool = False


USERS: tuple[DemoUser, ...] = (
    # Representatives of member co-operatives and national federations.
    DemoUser("marta.ferreira", "Marta Ferreira", "marta.ferreira@tecelagem-norte.example.org", "member",
             "Tecelagem Norte worker co-operative, Portugal"),
    DemoUser("jonas.lind", "Jonas Lindqvist", "jonas@kooperativ-norr.example.org", "member",
             "Nordic federation of worker co-operatives"),
    DemoUser("amara.diallo", "Amara Diallo", "a.diallo@coop-sahel.example.org", "member",
             "Union of service co-operatives, Senegal"),
    DemoUser("ewa.kowal", "Ewa Kowalczyk", "ewa.kowalczyk@spoldzielnie.example.org", "member",
             "National council of work co-operatives, Poland; board treasurer"),
    DemoUser("rafael.mendes", "Rafael Mendes", "rafael@redecoop.example.org", "member",
             "Network of recycling and service co-operatives, Brazil"),
    DemoUser("hana.sato", "Hana Sato", "h.sato@workers-coop-union.example.org", "member",
             "Workers' co-operative union, Japan"),
    DemoUser("giulia.r", "Giulia Romano", "giulia.romano@consorzio-sociale.example.org", "member",
             "Consortium of social co-operatives, Italy"),
    # Staff of the federation.
    DemoUser("lucia.moreno", "Lucía Moreno", "lucia.moreno@federation.example.org", "worker",
             "policy officer"),
    DemoUser("ben.okoro", "Ben Okoro", "ben.okoro@federation.example.org", "worker",
             "communications officer"),
    DemoUser("sophie.vdb", "Sophie van den Berg", "sophie.vandenberg@federation.example.org", "worker",
             "events coordinator"),
    DemoUser("abena.m", "Abena Mensah", "abena.mensah@federation.example.org", "worker",
             "research officer"),
    # Participants: people close to the movement who are not members.
    DemoUser("claire_dubois", "Claire Dubois", "claire.dubois@univ-research.example.org", "participant",
             "researcher on worker buyouts"),
    DemoUser("tiago.p", "Tiago Pereira", "tiago.pereira@youthcoops.example.org", "participant",
             "young co-operators' network"),
    DemoUser("ingrid.h", "Ingrid Haugen", "ingrid@conversion-advice.example.org", "participant",
             "consultant for conversions to co-operatives"),
    DemoUser("ahmed.yusuf", "Ahmed Yusuf", "ahmed.yusuf@students.example.org", "participant",
             "master's student in social economy"),
    # Staff accounts.
    DemoUser("olga.petrenko", "Olga Petrenko", "olga.petrenko@federation.example.org", "worker",
             "community manager", moderator=True),
    DemoUser("niko.h", "Niko Halonen", "niko.halonen@federation.example.org", "worker",
             "IT officer", moderator=True, admin=True),
)
ADMIN = "niko.h"

# --- categories ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoCategory:
    key: str
    name: str
    description: str
    color: str
    levels: dict[str, int]
    parent: str | None = None


CATEGORIES: tuple[DemoCategory, ...] = (
    DemoCategory(
        "news", "News and events",
        "Announcements, events and reports from the federation. Anyone can read; signed-in people can "
        "reply; members and staff start topics.",
        "0E7C66", {"everyone": SEE, "participant": REPLY, "worker": CREATE, "member": CREATE}),
    DemoCategory(
        "newsletter", "Newsletter",
        "The monthly newsletter of the secretariat, one topic per edition.",
        "3A7CA5", {"everyone": SEE, "participant": REPLY, "worker": CREATE, "member": REPLY}, parent="news"),
    DemoCategory(
        "board", "Board reports",
        "Summaries of board and committee meetings, for member organisations and the secretariat.",
        "8E3B46", categories.PRESETS["members_and_workers"]),
    DemoCategory(
        "lounge", "Members' lounge",
        "A quiet room for the representatives of member organisations: compare notes, ask each other "
        "for advice, prepare positions.",
        "B5651D", categories.PRESETS["members_only"]),
    DemoCategory(
        "intros", "Introductions",
        "New here? Tell us who you are and what brings you to the co-operative movement.",
        "6A4C93", {"everyone": SEE, "participant": CREATE, "worker": CREATE, "member": CREATE}),
    DemoCategory(
        "proposals", "Proposals",
        "Ideas for the federation's work, events and services, discussed before they go to the board. "
        "Open to everyone who is signed in.",
        "C49A00", {"everyone": NONE, "participant": REPLY, "worker": CREATE, "member": CREATE}),
)

# --- topics -------------------------------------------------------------------------------------

TOPIC_URL = "TOPIC_URL"  # replaced by the topic's own path once it exists


@dataclass
class P:
    """One post: its author, its text, and optionally the post it answers or quotes."""

    author: str
    raw: str
    reply_to: int | None = None
    quote: tuple[int, str] | None = None  # (post number, the quoted passage of that post)
    likes: int | None = None  # how many people like it; None lets chance decide


@dataclass
class T:
    category: str
    title: str
    start: float  # days ago of the first post
    end: float  # days ago of the last post
    posts: list[P]
    pinned: bool = False
    pinned_globally: bool = False


def _text(raw: str) -> str:
    return textwrap.dedent(raw).strip("\n")


def _day(moment: datetime) -> str:
    return f"{moment:%A} {moment.day} {moment:%B}"


def _weekday(moment: datetime, step: int) -> datetime:
    """The same day if it is a weekday, else the nearest weekday in the direction of `step`."""
    while moment.weekday() >= 5:
        moment += timedelta(days=step)
    return moment


def _topics(now: datetime) -> list[T]:
    def ahead(days: float) -> str:
        return _day(_weekday(now + timedelta(days=days), 1))

    def ago(days: float) -> str:
        return _day(_weekday(now - timedelta(days=days), -1))

    assembly = now + timedelta(days=150)
    webinar = _weekday(now + timedelta(days=9), 1)
    eoi_deadline = _weekday(now + timedelta(days=16), 1)
    newsletter_month = f"{now - timedelta(days=15):%B}"

    return [
        T("news", "Welcome to the federation's forum: start here", 40, 37.5, pinned_globally=True, posts=[
            P(ADMIN, _text("""
                Welcome! This forum replaces the old mailing lists of the federation. It is the place
                to share news, report on meetings where you represented us, and prepare proposals
                together.

                **Who sees what**

                | Category | Who can read | Who can reply | Who can start topics |
                |---|---|---|---|
                | News and events | everyone, also without an account | everyone signed in | members and staff |
                | Newsletter, under News and events | everyone | everyone signed in | staff |
                | Introductions | everyone | everyone signed in | everyone signed in |
                | Proposals | everyone signed in | everyone signed in | members and staff |
                | Board reports | members and staff | members and staff | members and staff |
                | Members' lounge | members only | members only | members only |

                "Members" are the representatives of our member organisations; "staff" are the people
                working in the secretariat.

                **A few tips**

                - Reply to a specific post with the *Reply* button under it, so the conversation stays easy to follow.
                - Mention someone with `@` and their username, for example @olga.petrenko, who moderates the forum.
                - To quote, copy the passage and wrap it in `[quote="username, post:2, topic:5"]` … `[/quote]`.
                - Formatting is Markdown: **bold**, *italics*, lists, links and tables all work.

                If anything does not work as you expect, write to me here or at niko.halonen@federation.example.org.
                """), likes=9),
            P("olga.petrenko", _text("""
                Thank you Niko. One more thing from my side: please write in English where you can, so
                that everyone can follow, but do not let that stop you. A post in Portuguese, French or
                Spanish is better than no post, and someone will usually help with a short summary.
                """), likes=6),
            P("hana.sato", _text("""
                Good to have this at last. Our union used three different mailing lists for
                international work and half of the messages never reached the right people.
                """), reply_to=1, likes=3),
        ]),

        T("news", "International reports, links and representation", 33, 0.08, posts=[
            P("lucia.moreno", _text(f"""
                This is the running thread for **short reports from meetings where someone represented
                the federation**, and for reports and studies worth reading. One thread, so that
                nothing gets lost in inboxes.

                When you post a report, please include:

                1. the meeting, the place and the date;
                2. who was there for us, and in what capacity;
                3. what was decided or said that matters for members;
                4. follow-up: who does what, and by when.

                Links are welcome too, with a line or two on why they are worth the time. The
                representation calendar for the coming weeks is further down in this thread; I will
                keep it updated. Our next big appointment is the General Assembly in {assembly:%B %Y}.
                """), likes=8),
            P("jonas.lind", _text("""
                **European social economy conference, Brussels**

                I attended for the federation together with our regional secretary. Three points:

                - The Commission staff confirmed that the action plan review will include a chapter on
                  business transfers to employees. They asked for case studies, ideally with figures.
                - Several speakers mixed up social co-operatives and social enterprises in general. We
                  should keep explaining the difference: democratic ownership by the workers and users,
                  not just a social purpose.
                - Public procurement came up in almost every panel. Members who have won contracts with
                  social clauses have stories people want to hear.

                Follow-up: I will send two Nordic case studies to @lucia.moreno by the end of the month.
                """), likes=7),
            P("amara.diallo", _text("""
                **Regional meeting on the informal economy, Dakar**

                Around sixty participants from eleven countries, mostly service and transport
                co-operatives. The main message: co-operatives are one of the few routes from informal
                work to formal work that people actually choose, because they keep control of their
                own income.

                What members asked of the federation:

                - practical material in French on registering a co-operative, not only legal texts;
                - help in talking to ministries of labour, which still see co-operatives mainly as
                  agricultural;
                - exchange visits, even short ones.

                The final declaration is on the shared drive:
                [Dakar declaration (PDF)](https://docs.federation.example.org/reports/dakar-declaration.pdf)
                """), likes=9),
            P("abena.m", _text("""
                For those preparing material on business transfers: our member survey has the first
                results. 118 co-operatives answered so far.

                | Origin of the co-operative | Share of answers | Still operating after 5 years |
                |---|---|---|
                | Founded from scratch | 61% | 79% |
                | Transfer from a retiring owner | 23% | 88% |
                | Rescue of a business in crisis | 16% | 71% |

                These are early numbers and the sample is not representative, so please do not quote
                them in public yet. The full report follows in the autumn.
                """), likes=6),
            P("claire_dubois", _text("""
                Very interesting, thank you. How did you count co-operatives that changed legal form
                along the way? In my fieldwork some rescues started as employee-owned companies and
                only became co-operatives two or three years later.
                """), reply_to=4, likes=2),
            P("abena.m", _text("""
                Good question. We counted them by the way the workers first took over, so your
                examples would be in the "rescue" line. I will add a footnote in the report, and I
                would be glad to compare with your cases if you are willing.
                """), reply_to=5, likes=3),
            P("hana.sato", _text("""
                **Asia-Pacific forum on care work, Seoul (online participation)**

                I joined the panel on care co-operatives. Countries in the region are ageing fast and
                governments are looking for providers that keep care workers in the job. Worker-owned
                care co-operatives have lower staff turnover, and that argument was well received.

                The organisers are collecting examples for a regional publication. Deadline in six
                weeks; I can pass on contributions.
                """), likes=5),
            P("rafael.mendes", _text("""
                This matches our experience in Brazil with the waste pickers. When they organised in
                co-operatives, the municipalities started signing contracts with them, and that
                changed everything: regular income, social security, a seat at the table when the
                city plans its recycling.

                Happy to share our contract model with anyone who wants it.
                """), quote=(3, "co-operatives are one of the few routes from informal\n"
                                "work to formal work that people actually choose"), likes=6),
            P("marta.ferreira", _text("""
                **Meeting with the Ministry of Labour, Lisbon**

                Short report: the ministry is drafting a support scheme for transfers of businesses to
                their employees. We asked for three things:

                1. a right of first refusal for the workers when an owner sells or closes;
                2. access to the unemployment benefit as a lump sum to capitalise the co-operative;
                3. advisory support in the first two years, which is when most transfers struggle.

                They were open to the second and third points. The first will need a long campaign.
                """), likes=8),
            P("olga.petrenko", _text("""
                A small request, since the thread is growing: when you post a link, add one or two
                lines about what is in it. Not everyone can open a forty-page PDF on a phone between
                two meetings. Thank you all, these reports are exactly what this thread is for.
                """), likes=4),
            P("ben.okoro", _text("""
                @marta.ferreira could we use your ministry report in the next newsletter, in a
                shortened version? It is a good example for members in other countries who are
                preparing similar talks.
                """), reply_to=9, likes=1),
            P("marta.ferreira", _text("""
                Of course, go ahead. Please leave out the point about the unemployment benefit for now:
                the ministry asked us not to publicise it before their internal consultation.
                """), reply_to=11, likes=2),
            P("giulia.r", _text("""
                **Update from Italy: regional law on social co-operatives**

                Our region has approved the revision of its law on social co-operatives. What changes:

                - contracting authorities can reserve contracts for co-operatives that employ at least
                  30% disadvantaged workers;
                - the register of social co-operatives is now online and public;
                - co-operatives must publish a yearly social report.

                The consortium prepared an English summary:
                [Regional law, summary in English](https://docs.consorzio-sociale.example.org/law-summary-en.pdf)
                """), likes=7),
            P("tiago.p", _text("""
                **Youth network meeting, Porto**

                Thirty young co-operators from six countries. Most of us work in small co-operatives
                in design, software, cleaning and food delivery. The questions that came up again and
                again: how to find start-up capital without giving up control, and how to reach
                members who are not in the room when decisions are taken.

                We would love a session at the General Assembly. Is there a way to propose one?
                """), likes=5),
            P("sophie.vdb", _text("""
                Yes! Themes for the General Assembly are collected in the Proposals category. Please
                post your idea there, even in a rough form. And @tiago.p, if the network can send two
                speakers, we will try to cover the travel.
                """), reply_to=14, likes=4),
            P("ewa.kowal", _text("""
                **ILO meeting on statistics of the social and solidarity economy, Geneva**

                I represented the federation in the workers' co-operatives working group. In short:

                - The draft guidelines will define a co-operative by its principles, not only by its
                  legal form. Good for us.
                - Worker co-operatives will be counted separately from other co-operatives.
                - Member-workers may end up counted as neither employees nor self-employed. We argued
                  for a separate category, so that they do not disappear from labour statistics.

                Comments on the draft are due in three weeks.
                """), likes=8),
            P("lucia.moreno", _text("""
                This is the most important point for us. If member-workers are not visible in labour
                statistics, they are not visible in labour policy either. I will draft the
                federation's comments this week and share them with the board. Anyone with national
                data on member-workers, please send it to me.
                """), quote=(16, "Member-workers may end up counted as neither employees nor self-employed."),
                likes=6),
            P("ingrid.h", _text("""
                A guide that I keep recommending to owners who consider selling to their staff:
                [Selling your business to your employees: a step-by-step guide](https://guides.example.org/conversion-step-by-step)

                It is written for small firms, is honest about the difficulties, and has checklists
                for the valuation and for the first general meeting of the new co-operative.
                """), likes=3),
            P("jonas.lind", _text("""
                Thanks Ingrid. There is a Swedish adaptation of that guide, with the tax rules for our
                country. I can send it to anyone working with Nordic businesses.
                """), reply_to=18, likes=2),
            P("amara.diallo", _text("""
                Care is growing in West Africa too, but mostly informally, by women working alone. The
                Korean and Japanese examples could be very useful for us. @hana.sato, could we organise
                an online exchange between your union and two or three of our care groups?
                """), quote=(7, "Worker-owned\ncare co-operatives have lower staff turnover"), likes=5),
            P("hana.sato", _text("""
                Gladly. We have interpreters for English and French in the union. Let us find a date
                after our board meeting; I will write to you directly.
                """), reply_to=20, likes=3),
            P("abena.m", _text(f"""
                **Representation calendar for the coming weeks**

                | Date | Meeting | Who represents us |
                |---|---|---|
                | {ahead(4)} | UN expert group on co-operatives, online | Lucía Moreno |
                | {ahead(11)} | Social economy intergroup, European Parliament | *open* |
                | {ahead(19)} | Regional assembly, Americas | Rafael Mendes |
                | {ahead(26)} | OECD seminar on employee ownership | *open* |
                | {ahead(40)} | International co-operative research conference | Abena Mensah |

                If you can take one of the open slots, reply here. Travel costs are covered for one
                person per meeting.
                """), likes=4),
            P("marta.ferreira", _text("""
                I can take the OECD seminar. We have just been through a transfer in our own
                co-operative, so I can speak about it from the inside.
                """), reply_to=22, likes=3),
            P("ewa.kowal", _text("""
                I will be in Brussels that week anyway, so I can cover the intergroup meeting.
                """), reply_to=22, likes=2),
            P("abena.m", _text(f"""
                Thank you both. Updated calendar:

                | Date | Meeting | Who represents us |
                |---|---|---|
                | {ahead(4)} | UN expert group on co-operatives, online | Lucía Moreno |
                | {ahead(11)} | Social economy intergroup, European Parliament | Ewa Kowalczyk |
                | {ahead(19)} | Regional assembly, Americas | Rafael Mendes |
                | {ahead(26)} | OECD seminar on employee ownership | Marta Ferreira |
                | {ahead(40)} | International co-operative research conference | Abena Mensah |
                """), likes=3),
            P("ahmed.yusuf", _text("""
                A question from a student: are these reports public? I am writing my thesis on
                co-operative federations and would like to cite some of them.
                """), likes=1),
            P("olga.petrenko", _text("""
                This category is public, so yes, you can cite what is posted here. Please check with
                the author first if you quote figures, as some are preliminary (see the survey
                results above). Board reports and the members' room are not public.
                """), reply_to=26, likes=3),
            P("ben.okoro", _text("""
                Reading for the weekend:

                - [Worker co-operatives and the future of work](https://library.example.org/future-of-work-coops):
                  a short, readable overview, good to share with policy makers.
                - [Social co-operatives in twelve countries](https://library.example.org/social-coops-12):
                  comparative tables on legal frameworks, a useful reference.
                - [Platform co-operatives: first lessons](https://library.example.org/platform-coops-lessons):
                  interviews with founders of delivery and care platforms owned by their workers.
                """), likes=5),
            P("giulia.r", _text("""
                The comparative study is excellent, but its table on Italy is out of date since the
                regional reforms. I will write to the authors.
                """), quote=(28, "comparative tables on legal frameworks, a useful reference."), likes=2),
            P("ewa.kowal", _text("""
                **Consultation on platform work**

                We sent our contribution to the consultation on working conditions in platform work.
                Main message: when the workers own the platform, the questions of algorithmic
                management and fair pay are answered by the members themselves, so rules should
                leave room for that model instead of treating every platform as an employer.
                """), likes=4),
            P("tiago.p", _text("""
                Two co-operatives in our network are delivery platforms owned by their riders. They
                would be happy to be cited as examples if it helps.
                """), reply_to=30, likes=3),
            P("claire_dubois", _text("""
                For the researchers here: the call for papers of the international co-operative
                research conference is open until the end of next month.
                [Call for papers](https://research-conference.example.org/call) — practitioners'
                contributions are explicitly welcome.
                """), likes=2),
            P("jonas.lind", _text("""
                **Nordic co-operative meeting, Tampere**

                Mostly about housing and energy co-operatives, but one useful session on pensions for
                members of small worker co-operatives. In Finland they have a collective scheme that
                costs each co-operative very little. I will ask for the details.
                """), likes=3),
            P(ADMIN, _text("""
                A practical note: attachments are not enabled on the forum yet. Please put reports on
                the shared drive and link to them, as Amara and Giulia did. If you do not have access to
                the drive, send me a message.
                """), likes=2),
            P("amara.diallo", _text("""
                Thank you Niko, I had been looking for the upload button.
                """), reply_to=34),
            P("hana.sato", _text("""
                **Side event at the UN Commission for Social Development, New York (online)**

                The event was on the social and solidarity economy and decent work. Two governments
                announced national strategies for the social economy. Both mentioned worker
                co-operatives as a priority, and both asked which data exist on their number and their
                employment.
                """), likes=6),
            P("lucia.moreno", _text("""
                That question again. @abena.m, could our survey provide at least a first answer for
                these two countries? It would be a good opening for our members there.
                """), quote=(36, "both asked which data exist on their number and their\nemployment."),
                likes=3),
            P("abena.m", _text("""
                We have answers from one of the two countries, not enough for figures. I will contact
                our member federation there and see whether they can run a short national round.
                """), reply_to=37, likes=2),
            P("rafael.mendes", _text("""
                **Regional assembly, Americas (preparatory meeting)**

                1. Agreement to create a regional working group on recycling and waste co-operatives.
                2. A request to the federation for training on co-operative governance for new members.
                3. Concern about new tax rules in two countries that treat co-operative surpluses as company profits.
                4. The next full assembly will elect two representatives to the federation's board.
                """), likes=5),
            P("marta.ferreira", _text("""
                We had the same fight in Portugal ten years ago. I can share the arguments that worked
                with our tax authority, if that helps.
                """), quote=(39, "new tax rules in two countries that treat co-operative surpluses as company profits"), likes=4),
            P("ingrid.h", _text("""
                On governance training: there is a good open course with short videos and exercises,
                available in English and Spanish:
                [Co-operative governance in practice](https://learning.example.org/coop-governance)
                """), likes=2),
            P("sophie.vdb", _text("""
                Practical matters for the coming trips: if you need an invitation letter for a visa,
                tell me at least six weeks before the meeting. The embassies are slow this year.
                """), likes=1),
            P("amara.diallo", _text("""
                I will need one for the research conference, if I am to go with Abena. I will send you
                the details by email.
                """), reply_to=42, likes=1),
            P("ewa.kowal", _text("""
                **Preparatory call with the secretariat of the social economy intergroup**

                Short one, ahead of the intergroup meeting: they will hold a hearing on business
                transfers to employees later in the year, and they want at least one worker
                co-operative to testify. Marta's experience would be ideal, @marta.ferreira.
                """), likes=4),
            P("giulia.r", _text("""
                Thank you all for these reports. Reading them in one place, the common thread is
                clear: transfers to employees, the visibility of member-workers, and public
                procurement. Maybe these should be the three priorities of our next work plan.
                """), likes=7),
            P("lucia.moreno", _text(f"""
                **Wrap-up of this round of reports**

                | Meeting | Report | Follow-up |
                |---|---|---|
                | European social economy conference | [post 2]({TOPIC_URL}/2) | case studies on transfers |
                | Regional meeting, Dakar | [post 3]({TOPIC_URL}/3) | material in French |
                | Asia-Pacific forum on care | [post 7]({TOPIC_URL}/7) | exchange West Africa and Japan |
                | ILO statistics meeting | [post 16]({TOPIC_URL}/16) | our comments, in three weeks |
                | Regional assembly, Americas | [post 39]({TOPIC_URL}/39) | governance training |

                I agree with @giulia.r about the three priorities and will propose them to the board.
                Keep the reports coming.
                """), likes=6),
        ]),

        T("proposals", f"General Assembly {assembly.year}: proposals for event themes", 21, 0.9, posts=[
            P("sophie.vdb", _text(f"""
                The General Assembly takes place in {assembly:%B %Y}. Besides the statutory part, we
                will have two days of plenaries and workshops, and we want the themes to come from
                you.

                Please reply with one proposal per post:

                - **Theme**, in a few words;
                - **Why now**: why it matters for members this year;
                - **Who could speak**: types of organisations, not necessarily names;
                - **Format**: plenary, workshop, study visit, something else.

                Proposals stay open for about three weeks. I will then post a shortlist here, and the
                board will choose the programme from it.
                """), likes=6),
            P("marta.ferreira", _text("""
                **Theme:** transfers of businesses to employees: what works.

                **Why now:** a generation of owners is retiring, and several governments are writing
                support schemes right now.

                **Who could speak:** a co-operative that took over from a retiring owner, a bank or
                fund that financed transfers, a ministry with a scheme in place.

                **Format:** plenary, followed by a workshop on financing.
                """), likes=8),
            P("giulia.r", _text("""
                **Theme:** social co-operatives and public procurement.

                **Why now:** reserved contracts and social clauses are finally used, but unevenly, and
                many co-operatives do not know how to answer a tender.

                **Format:** workshop with a procurement officer and two co-operatives that won
                contracts.
                """), likes=5),
            P("hana.sato", _text("""
                **Theme:** care co-operatives as employers of choice.

                **Why now:** every country is short of care workers, and worker ownership keeps people
                in the job.

                **Format:** workshop with examples from Asia, Europe and Africa.
                """), likes=6),
            P("tiago.p", _text("""
                **Theme:** young people starting co-operatives.

                **Why now:** many of us start businesses together, but almost nobody tells us that a
                co-operative is an option. Start-up capital is the main obstacle.

                **Who could speak:** young founders, a youth network, an incubator for co-operatives.

                **Format:** an open session run by young co-operators themselves, not a panel about us.
                """), likes=7),
            P("jonas.lind", _text("""
                Strong support. We could connect this with Tiago's proposal: many of the businesses up
                for transfer could be taken over by young people together with the existing staff.
                """), quote=(2, "a generation of owners is retiring"), likes=4),
            P("amara.diallo", _text("""
                **Theme:** from informal work to co-operatives.

                **Why now:** in Africa, most workers are in the informal economy, and co-operatives are
                one of the few routes to formal work that they choose themselves.

                **Format:** plenary, with study visits if the Assembly is held in a country where
                we have members working on this.
                """), likes=6),
            P("rafael.mendes", _text("""
                Yes to this. Latin America has a lot to share, especially the recyclers' co-operatives.
                A joint session Africa and Americas would make sense.
                """), reply_to=7, likes=3),
            P("abena.m", _text("""
                A summary of the proposals so far, with the number of people who have supported each
                in this thread:

                | Theme | Proposed by | Support |
                |---|---|---|
                | Transfers to employees | Marta | 4 |
                | Public procurement | Giulia | 2 |
                | Care co-operatives | Hana | 3 |
                | Young people starting co-operatives | Tiago | 4 |
                | From informal work to co-operatives | Amara | 3 |

                I would add one more: **counting co-operative work**. Without numbers we are invisible
                in policy, and the ILO guidelines give us a chance to change that.
                """), likes=5),
            P("ewa.kowal", _text("""
                These are all good, but we cannot run six parallel workshops with the interpretation we
                can afford. I would rather have fewer sessions, well prepared, with interpreting in
                French and Spanish in all of them.
                """), reply_to=9, likes=4),
            P("sophie.vdb", _text("""
                Agreed. The budget allows for three plenaries and four workshops, all with
                interpretation. So we will have to combine some themes; the suggestion to link
                transfers and young founders is a good example.
                """), reply_to=10, likes=3),
            P("ingrid.h", _text("""
                **Theme:** digital tools for co-operative democracy.

                **Why now:** many co-operatives now have members in several cities, and the general
                meeting once a year is not enough.

                **Format:** a hands-on workshop, with tools that members already use.
                """), likes=2),
            P("claire_dubois", _text("""
                A suggestion on format rather than theme: a poster session for research on
                co-operatives, during the breaks. It costs little and brings researchers and
                practitioners together.
                """), likes=3),
            P("ben.okoro", _text("""
                From the communications side: please think of a short title for each theme, eight
                words at most. We will need them for the programme and the invitations.
                """), reply_to=1, likes=1),
            P("sophie.vdb", _text("""
                Thank you, everyone. The shortlist that goes to the board:

                1. **Taking over: transfers to employees and young founders** (plenary and workshop)
                2. **From informal work to co-operatives** (plenary, joint Africa and Americas)
                3. **Care co-operatives as employers of choice** (workshop)
                4. **Winning public contracts** (workshop)
                5. **Counting co-operative work** (workshop)

                The research poster session will run alongside. The board decides at its next meeting;
                I will post the outcome here.
                """), likes=7),
            P("marta.ferreira", _text("""
                A good shortlist. Thank you Sophie for pulling it together so quickly.
                """), reply_to=15, likes=2),
        ]),

        T("news", f"Webinar: worker buyouts in practice, {_day(webinar)}", 12, 3, pinned=True, posts=[
            P("sophie.vdb", _text(f"""
                Join us on **{_day(webinar)}, 14:00 to 15:30 UTC**, for a webinar on worker buyouts.

                Three co-operatives that were taken over by their workers will tell their story:
                the valuation, the financing, the first difficult year, and what they would do
                differently today.

                - Interpretation into French and Spanish.
                - Free for everyone; registration required.
                - [Register here](https://events.federation.example.org/webinar-buyouts)

                Questions for the speakers can be posted in this thread beforehand.
                """), likes=7),
            P("ahmed.yusuf", _text("""
                Will there be a recording? The time is in the middle of my lectures.
                """), likes=1),
            P("sophie.vdb", _text("""
                Yes, the recording will be on our website a few days later, with subtitles.
                """), reply_to=2, likes=2),
            P("ingrid.h", _text("""
                A question for the speakers: how did they agree on the price with the previous owner?
                That is where most of the projects I support get stuck.
                """), likes=3),
            P("marta.ferreira", _text("""
                I will be one of the speakers, and I can already say that the answer involves a lot of
                patience and a good accountant. More on the day.
                """), reply_to=4, likes=4),
        ]),

        T("news", "Call for expressions of interest: peer-learning visits on social co-operatives",
          9, 5, posts=[
              P("lucia.moreno", _text(f"""
                  The federation is organising **three peer-learning visits** this year for members
                  who want to start or strengthen social co-operatives: co-operatives that employ
                  people who find it hard to get work, or that provide social services to their
                  communities.

                  Each visit lasts three days, for delegations of two or three people. Travel and
                  accommodation are covered.

                  **To express interest**, reply here or write to lucia.moreno@federation.example.org
                  with:

                  1. your organisation and country;
                  2. what you would like to learn, in a few lines;
                  3. which host you would prefer, if any: Italy, Poland or Japan.

                  Deadline: {_day(eoi_deadline)}.
                  """), likes=5),
              P("giulia.r", _text("""
                  Our consortium would be glad to host one of the visits, as in previous years. We can
                  show both the employment co-operatives and the ones that run social services.
                  """), reply_to=1, likes=4),
              P("amara.diallo", _text("""
                  We are interested: our union has two groups of women working in home care who want to
                  form a co-operative. Can a delegation include someone who is not yet a member of a
                  co-operative?
                  """), likes=2),
              P("lucia.moreno", _text("""
                  Yes, as long as your union sends them. Seeing it for themselves before they start is
                  exactly the point.
                  """), reply_to=3, likes=2),
          ]),

        T("newsletter", f"Federation newsletter: {newsletter_month} edition", 15, 13.5, posts=[
            P("ben.okoro", _text(f"""
                ## In this edition

                - **General Assembly:** the dates are set for {assembly:%B %Y}. Themes are being
                  proposed in the forum; join the discussion.
                - **Three new members:** a federation of service co-operatives from Kenya, a network
                  of cleaning co-operatives from Spain and a young platform co-operative from Canada.
                  Welcome!
                - **Statistics:** the federation is taking part in the international work on
                  statistics of the social and solidarity economy. Send us your national data.
                - **From the members:** a co-operative in Portugal tells how its workers took over the
                  factory when the owner retired.
                - **Reading:** new studies on platform co-operatives and on social co-operatives in
                  twelve countries.

                The full newsletter, with photographs, is on our website:
                [read the {newsletter_month} edition](https://federation.example.org/newsletter/latest)

                Have news for the next edition? Reply here or write to ben.okoro@federation.example.org.
                """), likes=6),
            P("rafael.mendes", _text("""
                Nice edition. For the next one, our recyclers' co-operatives signed a national
                agreement with the association of municipalities last week. I will send you a photo
                and a short text.
                """), likes=3),
        ]),

        T("board", f"Board meeting of {ago(32)}: summary", 30, 26.5, posts=[
            P("lucia.moreno", _text(f"""
                Summary of the board meeting of {ago(32)}, held online. Full minutes will follow once
                the board approves them.

                **Decisions**

                1. The accounts of last year were approved and go to the General Assembly.
                2. Three membership applications were accepted (Kenya, Spain, Canada).
                3. The federation will contribute to the ILO work on statistics of the social and
                   solidarity economy. Ewa Kowalczyk represents us.
                4. The secretariat will prepare a proposal for the fee scale for next year, to be
                   discussed with members before the assembly.

                **Discussed, no decision yet**

                - Where to hold the General Assembly. Two offers, both in Europe; the board asked whether a member outside Europe could host.
                - Whether to open a regional office in Latin America.
                """), likes=5),
            P("rafael.mendes", _text("""
                On the Latin American office: our network can offer a room in our building for the
                first two years, at no cost. That would leave only the salary of a coordinator.
                """), reply_to=1, likes=4),
            P("amara.diallo", _text("""
                Thank you for raising the question of hosting outside Europe. Members in Africa almost
                never manage to send delegations to assemblies in Europe because of the visa costs.
                """), quote=(1, "the board asked whether a member outside Europe could host."), likes=5),
            P("sophie.vdb", _text("""
                Noted for the venue discussion. I am collecting costs for a venue in Dakar and one in
                São Paulo, so that the board can compare with the European offers.
                """), reply_to=3, likes=2),
        ]),

        T("board", "Finance committee: half-year figures and fee collection", 18, 16, posts=[
            P("ewa.kowal", _text("""
                Half-year figures as presented to the finance committee (in thousands of euros):

                | | Budget for the year | First half |
                |---|---|---|
                | Membership fees | 410 | 262 |
                | Project grants | 280 | 131 |
                | Events | 60 | 12 |
                | **Income** | **750** | **405** |
                | Staff | 520 | 254 |
                | Travel and representation | 90 | 51 |
                | Office and IT | 70 | 33 |
                | **Expenses** | **680** | **338** |

                Fee collection is ahead of last year. Twelve members have not yet paid; the
                secretariat will contact them personally rather than send reminders.
                """), likes=4),
            P("giulia.r", _text("""
                Travel is already at more than half the budget. Is that because of the Geneva and
                Brussels meetings, or should we expect an overrun?
                """), reply_to=1, likes=1),
            P("ewa.kowal", _text("""
                Mostly the meetings in the spring, which are always heavier. We expect to stay within
                budget, but the General Assembly travel grants will need a separate line.
                """), reply_to=2, likes=2),
        ]),

        T("board", f"Board meeting of {ago(7)}: summary", 6, 1.5, posts=[
            P("lucia.moreno", _text(f"""
                Summary of the board meeting of {ago(7)}.

                **Decisions**

                1. The General Assembly will be hosted by our member in Dakar, provided the venue
                   costs are confirmed. A European venue remains the fallback.
                2. The board discussed the first proposals for the assembly themes and will choose
                   the programme at its next meeting, from the shortlist prepared in the forum.
                3. The federation's comments on the ILO draft guidelines were approved.

                **Next steps**

                - The secretariat sends the draft fee scale to members, for discussion before the
                  assembly.
                - A working group on the Latin American office: Rafael Mendes, Ewa Kowalczyk and
                  Lucía Moreno.
                """), likes=7),
            P("amara.diallo", _text("""
                Wonderful news about Dakar. Our union is ready, and we will start working on the study
                visits right away.
                """), reply_to=1, likes=6),
            P("abena.m", _text("""
                For the statistics workshop: the board's approval of our ILO comments means we can
                present them at the assembly as the federation's position.
                """), likes=2),
        ]),

        T("lounge", "How do you handle pay ratios in your co-operatives?", 25, 10, posts=[
            P("jonas.lind", _text("""
                A member co-operative of ours is growing fast and is hiring its first managers from
                outside. The question on the table is the pay ratio: how much more may the best-paid
                member earn than the lowest-paid?

                What rules do you have, and do they hold up when the co-operative grows?
                """), likes=3),
            P("marta.ferreira", _text("""
                We have a ratio of 1 to 3, written in our statutes. It has held for twenty years, but
                we lost two good engineers who could earn much more elsewhere. Nobody regrets the
                rule, but it has a price.
                """), likes=5),
            P("giulia.r", _text("""
                Most social co-operatives in our consortium are between 1 to 2 and 1 to 4. The
                national collective agreement sets the floor, so the discussion is mostly about the
                top.
                """), likes=3),
            P("hana.sato", _text("""
                In our union the differences are small: most co-operatives pay the same hourly rate to
                everyone and add allowances for responsibilities. Members decide the allowances at the
                general meeting every year.
                """), likes=4),
            P("ewa.kowal", _text("""
                I like this. Deciding every year, in the open, is probably more important than the
                exact number.
                """), quote=(4, "Members decide the allowances at the\ngeneral meeting every year."), likes=4),
            P("jonas.lind", _text("""
                Thank you all. I will bring these examples to their next general meeting. The yearly
                decision on allowances is the idea they are most likely to adopt.
                """), reply_to=5, likes=2),
        ]),

        T("lounge", "Draft fee scale for next year: first reactions", 8, 0.5, posts=[
            P("marta.ferreira", _text("""
                The secretariat has circulated the draft fee scale. Before the formal consultation, it
                would help to hear how it lands with each of us.

                For our national federation the increase is about 6%, which we can manage. I am more
                worried about members with small budgets.
                """), likes=2),
            P("amara.diallo", _text("""
                For us the new minimum fee is a real problem. Some of our members would pay more to the
                federation than they receive from it in a year. Could the minimum be linked to the
                number of worker-members instead?
                """), likes=6),
            P("rafael.mendes", _text("""
                We are in a similar position. A scale based on worker-members would also be fairer to
                large federations in poorer countries.
                """), reply_to=2, likes=4),
            P("ewa.kowal", _text("""
                As treasurer: a scale by number of worker-members is possible, but several members do
                not know their exact numbers. We could accept estimates for the first year. I will
                bring a version along these lines to the finance committee.
                """), reply_to=2, likes=5),
            P("hana.sato", _text("""
                That would work for us. Please share the version before the committee meets, so we can
                run the numbers for our union.
                """), reply_to=4, likes=1),
        ]),

        T("intros", "New in the secretariat: communications officer", 36, 34, posts=[
            P("ben.okoro", _text("""
                Hello everyone! I joined the secretariat this month as communications officer. I will
                be working on the newsletter, the website and our social media, and I would like to
                tell many more stories from members.

                Before this I worked for a network of housing co-operatives. If you have news, photos,
                or a member whose story deserves to be told, I am all ears.
                """), likes=6),
            P("giulia.r", _text("""
                Welcome Ben! We have a social co-operative that just celebrated forty years. I will send
                you their story.
                """), reply_to=1, likes=2),
            P("jonas.lind", _text("""
                Welcome aboard. Looking forward to a livelier newsletter!
                """), reply_to=1, likes=1),
        ]),

        T("intros", "Hello from a researcher on worker buyouts", 28, 26, posts=[
            P("claire_dubois", _text("""
                Hello, I am Claire, a researcher in economics. I study businesses that were taken over
                by their workers, mostly in France and Belgium, and how they do in the years after the
                takeover.

                I joined to follow the discussions and, if members are interested, to share results in
                plain language. I am also looking for co-operatives willing to be interviewed.
                """), likes=4),
            P("abena.m", _text("""
                Welcome Claire. We are running a member survey that touches on exactly this; let us
                talk, there may be a way to compare your cases with our data.
                """), reply_to=1, likes=2),
            P("ahmed.yusuf", _text("""
                Hello Claire, I am writing my master's thesis on a related topic. Would you mind if I
                wrote to you with a couple of questions about methods?
                """), reply_to=1, likes=1),
            P("claire_dubois", _text("""
                Not at all, please do.
                """), reply_to=3, likes=1),
        ]),

        T("intros", "Greetings from a young co-operator in Porto", 19, 18, posts=[
            P("tiago.p", _text("""
                Hi all! I am Tiago, one of the seven founders of a small design co-operative in Porto,
                and I coordinate a network of young co-operators in southern Europe. We are mostly
                under thirty and mostly in services.

                I am here to learn from older co-operatives, and to make sure young people have a
                voice in the federation.
                """), likes=5),
            P("marta.ferreira", _text("""
                Bem-vindo, Tiago! Good to see you here. Let us meet when I am next in Porto.
                """), reply_to=1, likes=2),
            P("sophie.vdb", _text("""
                Welcome! We are just starting to plan the General Assembly, and we would like the youth
                network to be part of it. More soon.
                """), reply_to=1, likes=2),
        ]),

        T("intros", "Consultant for conversions to co-operatives, saying hello", 11, 9.5, posts=[
            P("ingrid.h", _text("""
                Hello, I am Ingrid. I advise owners and employees of small businesses in Norway who
                are considering a conversion to a worker co-operative. I have followed the
                federation's work for years, and I am happy to share guides and templates that have
                worked for us.
                """), likes=3),
            P("jonas.lind", _text("""
                Welcome Ingrid! We should talk about the Nordic guide on conversions. I think we are
                working on the same problem from two sides.
                """), reply_to=1, likes=1),
        ]),

        T("proposals", "Proposal: a shared directory of member co-operatives' services", 13, 7, posts=[
            P("rafael.mendes", _text("""
                Many of our members offer services that other members buy elsewhere: translation,
                accounting, IT, events, printing. What if the federation kept a simple directory of
                member co-operatives and the services they offer, searchable by country and sector?

                It would help co-operation among co-operatives, the sixth principle, in a very
                concrete way.
                """), likes=6),
            P("ben.okoro", _text("""
                We could host it on the website without much effort. The hard part is keeping it up
                to date; we would need each member to check its entry once a year.
                """), reply_to=1, likes=2),
            P("ingrid.h", _text("""
                From experience with a similar directory in Norway: include a contact person, not only
                a generic address, and show the date of the last update. Otherwise people stop trusting
                it within a year.
                """), likes=3),
            P("tiago.p", _text("""
                Our network would use it straight away. Young co-operatives struggle most with finding
                their first customers.
                """), likes=2),
            P("rafael.mendes", _text("""
                Good points, thank you. I will prepare a one-page proposal for the board with these
                requirements.
                """), reply_to=3, likes=1),
        ]),
    ]


# --- loading ------------------------------------------------------------------------------------


@dataclass
class _Written:
    spec: T
    topic_id: int
    post_ids: list[int] = field(default_factory=list)
    times: list[datetime] = field(default_factory=list)


def _refusal(session: Session) -> str | None:
    topics = session.scalar(select(func.count()).select_from(Topic))
    if topics:
        return (f"The database already has {topics} topic(s). The demo fills only an empty forum, so "
                "nothing was changed. Use a fresh database to load it.")
    taken = session.scalars(select(User.username).where(
        User.username_lower.in_([u.username.lower() for u in USERS])
        | User.email.in_([u.email for u in USERS]))).all()
    if taken:
        return f"Demo accounts already exist ({', '.join(sorted(taken))}); nothing was changed."
    names = session.scalars(select(Category.name).where(
        func.lower(Category.name).in_([c.name.lower() for c in CATEGORIES]))).all()
    if names:
        return f"Categories with the demo's names already exist ({', '.join(sorted(names))}); nothing was changed."
    return None


def _working_hours(moment: datetime, rng: random.Random) -> datetime:
    return moment.replace(hour=rng.randint(6, 18), minute=rng.randint(0, 59), second=rng.randint(0, 59))


def _schedule(spec: T, now: datetime, rng: random.Random) -> list[datetime]:
    """Increasing times for a topic's posts, from `start` to `end` days ago; replies cluster early."""
    first = _working_hours(now - timedelta(days=spec.start), rng)
    last = now - timedelta(days=spec.end, minutes=rng.randint(0, 30))
    if spec.end >= 1:
        last = max(_working_hours(last, rng), first + timedelta(hours=1))
    count = len(spec.posts)
    if count == 1:
        return [first]
    span = (last - first).total_seconds()
    middle = sorted(rng.random() ** 1.3 for _ in range(count - 2))
    times = [first] + [first + timedelta(seconds=span * x) for x in middle] + [last]
    for i in range(1, count):
        times[i] = max(times[i], times[i - 1] + timedelta(minutes=rng.randint(4, 25)))
    latest = now - timedelta(minutes=2)
    for i in range(count - 1, -1, -1):
        bound = latest if i == count - 1 else times[i + 1] - timedelta(minutes=1)
        times[i] = min(times[i], bound)
    return times


def _write_topic(session: Session, settings: Settings, viewers: dict[str, Viewer],
                 category_ids: dict[str, int], spec: T) -> _Written:
    first = spec.posts[0]
    post = posting.create_topic(session, settings, viewers[first.author], title=spec.title,
                                raw=first.raw, category_id=category_ids[spec.category])
    topic = session.get(Topic, post.topic_id)
    assert topic is not None
    written = _Written(spec, topic.id, [post.id])
    for number, reply in enumerate(spec.posts[1:], start=2):
        raw = reply.raw.replace(TOPIC_URL, f"/t/{topic.slug}/{topic.id}")
        if reply.quote is not None:
            quoted_number, passage = reply.quote
            quoted = spec.posts[quoted_number - 1]
            if quoted_number >= number or passage not in quoted.raw:
                raise ValueError(f"demo post {number} of {spec.title!r} misquotes post {quoted_number}")
            raw = (f'[quote="{quoted.author}, post:{quoted_number}, topic:{topic.id}"]\n{passage}\n[/quote]\n\n'
                   f"{raw}")
        post = posting.create_reply(session, settings, viewers[reply.author], topic_id=topic.id, raw=raw,
                                    reply_to_post_number=reply.reply_to)
        written.post_ids.append(post.id)
    return written


def _likers(session: Session, viewers: dict[str, Viewer], topic: Topic, author: str) -> list[Viewer]:
    return [viewer for name, viewer in viewers.items()
            if name != author and permissions.can_see_topic(session, viewer, topic)]


def _like_all(session: Session, viewers: dict[str, Viewer], written: list[_Written],
              rng: random.Random) -> list[tuple[int, str]]:
    likes: list[tuple[int, str]] = []
    for item in written:
        topic = session.get(Topic, item.topic_id)
        assert topic is not None
        for spec, post_id in zip(item.spec.posts, item.post_ids, strict=True):
            wanted = spec.likes if spec.likes is not None else rng.choice((0, 0, 1, 1, 2, 3))
            candidates = _likers(session, viewers, topic, spec.author)
            for viewer in rng.sample(candidates, min(wanted, len(candidates))):
                posting.like_post(session, viewer, post_id=post_id)
                assert viewer.user is not None
                likes.append((post_id, viewer.user.username))
    return likes


def _backdate(session: Session, users: dict[str, User], written: list[_Written],
              likes: list[tuple[int, str]], now: datetime, rng: random.Random) -> None:
    post_times: dict[int, datetime] = {}
    first_activity: dict[str, datetime] = {}
    for item in written:
        item.times = _schedule(item.spec, now, rng)
        for spec, post_id, moment in zip(item.spec.posts, item.post_ids, item.times, strict=True):
            post_times[post_id] = moment
            first_activity[spec.author] = min(first_activity.get(spec.author, moment), moment)
            session.execute(update(Post).where(Post.id == post_id).values(created_at=moment, updated_at=moment),
                            execution_options={"synchronize_session": False})
        session.execute(
            update(Topic).where(Topic.id == item.topic_id).values(
                created_at=item.times[0], bumped_at=item.times[-1], last_posted_at=item.times[-1],
                views=len(item.times) * rng.randint(6, 14) + rng.randint(10, 60),
                pinned=item.spec.pinned, pinned_globally=item.spec.pinned_globally),
            execution_options={"synchronize_session": False})

    opened = now - timedelta(days=47)
    joined: dict[str, datetime] = {}
    for name in users:
        start = first_activity.get(name, now - timedelta(days=20))
        joined[name] = max(opened, start - timedelta(hours=rng.uniform(2, 72)))

    last_seen = dict(first_activity)
    for post_id, name in likes:
        since = max(post_times[post_id], joined[name])
        room = max((now - since).total_seconds() - 60, 1)
        delay = rng.uniform(600, 3 * 86400)
        moment = since + timedelta(seconds=delay if delay < room else rng.uniform(0, room))
        last_seen[name] = max(last_seen.get(name, moment), moment)
        session.execute(update(PostAction).where(PostAction.post_id == post_id,
                                                 PostAction.user_id == users[name].id)
                        .values(created_at=moment), execution_options={"synchronize_session": False})

    for name, user in users.items():
        posted = session.scalar(select(func.max(Post.created_at)).where(Post.user_id == user.id))
        seen = max(t for t in (last_seen.get(name), posted, joined[name]) if t is not None)
        session.execute(update(User).where(User.id == user.id).values(
            created_at=joined[name], last_posted_at=posted,
            last_seen_at=seen + (now - seen) * rng.random() * 0.5),
            execution_options={"synchronize_session": False})
    session.execute(update(Category).where(Category.name.in_([c.name for c in CATEGORIES]))
                    .values(created_at=opened), execution_options={"synchronize_session": False})


def _summary(settings: Settings, password: str, written: list[_Written], likes: int) -> str:
    by_role: dict[str, list[DemoUser]] = {"admin": [], "moderator": [], "member": [], "worker": [],
                                          "participant": []}
    for user in USERS:
        role = "admin" if user.admin else "moderator" if user.moderator else user.tier
        by_role[role].append(user)
    labels = {"admin": "Administrator", "moderator": "Moderator", "member": "Members",
              "worker": "Workers (staff)", "participant": "Participants"}
    posts = sum(len(item.post_ids) for item in written)
    lines = [
        f"Demo federation loaded: {len(USERS)} accounts, {len(CATEGORIES)} categories, "
        f"{len(written)} topics, {posts} posts and {likes} likes.",
        "",
        f"Every demo account has the password: {password}",
        "",
    ]
    for role, people in by_role.items():
        lines.append(f"{labels[role]}:")
        lines.extend(f"  {u.username:<16} {u.name}, {u.role}" + (f" (tier: {u.tier})" if u.moderator else "")
                     for u in people)
        lines.append("")
    lines.append(f"Open {settings.base_url.rstrip('/')}/login and sign in with any username above "
                 "to see the forum as that tier sees it.")
    return "\n".join(lines)


def load_demo(db: Database, settings: Settings, password: str) -> str:
    """Fill an empty forum with the demo federation and return a summary of the accounts.

    Refuses (SystemExit with a message, nothing written) when the forum already has topics or
    when demo accounts or categories exist.
    """
    problem = accounts.password_problem(password)
    if problem:
        raise SystemExit(f"Cannot load the demo: {problem}")
    now = datetime.now(UTC)
    rng = random.Random(20240611)
    try:
        with db.write() as session:
            refusal = _refusal(session)
            if refusal:
                raise SystemExit(refusal)
            users = {u.username: accounts.create_user(session, username=u.username, email=u.email,
                                                      password=password, name=u.name, tier=u.tier,
                                                      moderator=u.moderator, admin=u.admin) for u in USERS}
            admin = Viewer(users[ADMIN])
            category_ids: dict[str, int] = {}
            for c in CATEGORIES:
                parent_id = category_ids[c.parent] if c.parent else None
                category_ids[c.key] = categories.create_category(
                    session, admin, name=c.name, description=c.description, color=c.color,
                    parent_id=parent_id, levels=c.levels).id
            viewers = {name: Viewer(user) for name, user in users.items()}
            written = [_write_topic(session, settings, viewers, category_ids, spec) for spec in _topics(now)]
            from forum.demo_decide import write_topics  # it builds on this module's topic types

            written += write_topics(session, settings, users, viewers, category_ids, now)
            likes = _like_all(session, viewers, written, rng)
            _backdate(session, users, written, likes, now, rng)
    except ForumError as e:
        raise SystemExit("Cannot load the demo: " + " ".join(e.messages)) from e
    return _summary(settings, password, written, len(likes))
