/*
 * dmsec.pml - a Promela model of dmsec's application-layer authentication
 * (Cred / Chal), package #0 and nonce resynchronisation, with a network
 * attacker. See README.md in this folder for what is modelled, what the
 * attacker can do, the properties and the bounds.
 *
 * Compile-time options (spin -D...):
 *   SOL1=1            Solution 1 (interop option): the server also accepts
 *                     cred(0) when it consumes an outstanding nonce-0
 *                     notification for (device, session id). Off in dmsec.
 *   RESTORE_ACTIVE=1  the server store may be rolled back to an older copy
 *                     while the attacker is still active (by default the
 *                     rollback happens only after the attacker stopped).
 *   RESTORE_SAFE=1    a rolled-back server stops trusting the client nonces
 *                     it restored (a possible fix; not in dmsec).
 *   NPRE, NPOST, MAXINJ, MAXDROP, MAXN: the bounds (defaults below).
 */

#ifndef SOL1
#define SOL1 0
#endif
#ifndef RESTORE_ACTIVE
#define RESTORE_ACTIVE 0
#endif
#ifndef RESTORE_SAFE
#define RESTORE_SAFE 0
#endif
#ifndef ROTATE
#define ROTATE 1 /* the server replaces the secret after every resync */
#endif
#ifndef NPRE
#define NPRE 2 /* notifications the server may send while the attacker is active */
#endif
#ifndef NPOST
#define NPOST 2 /* notifications after the attacker stopped and faults ended */
#endif
#ifndef MAXINJ
#define MAXINJ 1 /* messages the attacker may inject (besides going on in a session S accepted) */
#endif
#ifndef MAXDROP
#define MAXDROP 1 /* messages the attacker may drop */
#endif
#ifndef MAXN
#define MAXN 24 /* nonce values 0..MAXN-1 (a budget; exceeding it is an error) */
#endif

#define NNOT (NPRE + NPOST) /* session ids 1..NNOT, one per notification */
#define NS (NNOT + 1)       /* per-connection stride of the server's session table */
#define NONE 255            /* no Cred / no Chal in a message */
#define J 1                 /* the attacker's own nonce (never issued by S or D) */
/* Nonces: the server draws even values 4, 6, ..., the device odd values
 * 5, 7, ...; 2 and 3 are the initial client and server nonces; 1 is J. */
#define CAP 4               /* network buffer per direction */
#define BIT(n) (1 << (n))

mtype = { P0, CLI, SRV };                 /* package #0, device->server, server->device */
mtype = { C_NONE, C_212, C_401, C_200, C_END }; /* SyncHdr status; C_END: last package */

/* kind, session id, Cred nonce, status, Chal nonce, Replace of the secret,
 * a: on toS the attacker's own connection, on toD injected by the attacker */
chan toS = [CAP] of { mtype, byte, byte, mtype, byte, bit, bit };
chan toD = [CAP] of { mtype, byte, byte, mtype, byte, bit, bit };

byte nxS = 4, nxD = 5; /* next fresh nonce of the server, of the device */

/* ---- server store ---- */
byte cn_cur = 2;  /* client nonce the server issued, current */
byte cn_pend = 0; /* client nonce issued in a challenge, pending (0: none) */
byte sn = 3;      /* server nonce (issued by the device) */
bit out[NS];      /* outstanding nonce-0 (resync) notification per session id */
byte p0n[NS];     /* the nonce each package #0 was digested on (the attacker records them) */
bit p0calm[NS];   /* ghost: package #0 sent after the attacker and the faults stopped */
byte ns = 0;      /* notifications sent; the last session id */
bit lastdone;     /* the session of the last notification completed */
/* server sessions, index conn * NS + sid, conn 0: the device's, 1: the attacker's */
byte sph[2 * NS];   /* 0 none, 1 open, 2 over */
bit sres[2 * NS];   /* alerted on the default nonce */
bit sauth[2 * NS];  /* peer authenticated (as the device) */
byte sfail[2 * NS]; /* the peer's failed Creds */
byte ssfail[2 * NS];/* our Creds the peer refused */
byte soutn[2 * NS]; /* the nonce our Cred is built on */
byte siss[2 * NS];  /* the client nonce issued in this session's 212 */
/* the rollback fault restores the store as it was provisioned */
#define B_CN 2
#define B_PEND 0
#define B_SN 3
bit restored;
bit lost;     /* the device lost its nonces (once) */
bit distrust; /* RESTORE_SAFE: restored client nonces are not trusted */

/* ---- device store ---- */
byte cn = 2;      /* client nonce (0: lost, the device sends cred(0)) */
byte sn_cur = 3;  /* server nonce it issued, current (0: lost) */
byte sn_pend = 0; /* server nonce issued in a challenge (0: none) */
byte dsid, dlast; /* current session (0: none), last session started */
bit dres;         /* this session's package #0 verified on the default nonce only */
bit dme, dsrv, dsent; /* server said 212; server authenticated; 200 + Chal sent */
byte dtries, dsfail;
bit drotated;     /* the device received a new secret */
bit dcalm;        /* ghost: this session comes from a package #0 sent after calm */

/* ---- attacker ---- */
int knowD, knowS; /* Cred values recorded (verified by their receiver): device Creds,
                   * server Creds; only values that can still pass are kept (see LIVE) */
byte inj, drops;
byte asid;        /* a session of its own the server accepted (its 212 came back) */
bit stopped;      /* the attacker does nothing more */
bit fdone;        /* no more faults */
#define calm (stopped && fdone)

/* ---- ghost state for the properties ---- */
byte accD, accS;   /* the newest nonce that authenticated a session: device Cred, server Cred
                    * (issued nonces only grow, so "used once" is "newer than that") */
bit okc;           /* a session that started after calm completed, both sides authenticated */

inline freshS(v) {
    assert(nxS < MAXN); /* nonce budget: raise MAXN */
    v = nxS;
    nxS = nxS + 2
}
inline freshD(v) {
    assert(nxD < MAXN);
    v = nxD;
    nxD = nxD + 2
}
#define issuedS(n) ((n) % 2 == 0 && (n) >= 2 && (n) < nxS)
#define issuedD(n) ((n) % 2 == 1 && (n) >= 3 && (n) < nxD)
/* A recorded Cred on a nonce its verifier no longer holds is dead: replaying
 * it is the same as sending none. The attacker's record keeps the live ones
 * (the default nonce, the current and pending nonces, and the provisioned
 * ones until the rollback happened), which keeps the state space small. */
#define LIVE_D (BIT(0) | BIT(cn_cur) | BIT(cn_pend) | (restored -> 0 : BIT(B_CN)))
#define LIVE_S (BIT(0) | BIT(sn_cur) | BIT(sn_pend))

inline send(q, f1, f2, f3, f4, f5, f6, f7) {
    if
    :: nfull(q) -> q!f1, f2, f3, f4, f5, f6, f7
    :: full(q) -> skip /* lost */
    fi
}

/* The server sends package #0 for a new session id. */
inline notify(resync) {
    ns++;
    if
    :: resync || sn == 0 ->
        p0n[ns] = 0;
        out[ns] = 1;
        printf("MSC: S: package #0 sid=%d digest on nonce 0 (resync, outstanding)\n", ns)
    :: else ->
        p0n[ns] = sn;
        printf("MSC: S: package #0 sid=%d digest on sn=%d\n", ns, sn)
    fi;
    lastdone = 0;
    p0calm[ns] = calm;
    send(toD, P0, ns, p0n[ns], C_NONE, NONE, 0, 0)
}

/* The server answers on the connection the request came on. An answer
 * to the attacker's connection reaches the attacker only. */
inline reply(g1, g2, g3, g4, g5, g6) {
    if
    :: g1 == 0 -> send(toD, SRV, g2, g3, g4, g5, g6, 0)
    :: else -> skip
    fi
}

proctype Server() {
    mtype k, co;
    byte sid, cr, ch, i, x;
    bit rp, a, ok;
end:
    do
    :: toS?k, sid, cr, co, ch, rp, a ->
        d_step {
            i = a * NS + sid;
            if
            :: sph[i] == 2 -> skip /* over: ignored */
            :: else ->
                if
                :: sph[i] == 0 ->
                    sph[i] = 1;
                    sres[i] = out[sid];
                    soutn[i] = (out[sid] -> 0 : sn);
                    siss[i] = NONE
                :: else -> skip
                fi;
                if
                :: !sauth[i] ->
                    /* authenticate the client on cn_cur or cn_pend, never on 0 */
                    ok = (cr != NONE && cr != 0 && !distrust && (cr == cn_cur || cr == cn_pend)) ||
                         (cr != NONE && cr != 0 && distrust && cr == cn_pend);
                    if
                    :: cr != NONE -> knowD = knowD | BIT(cr) /* a verified Cred: replayable */
                    :: else -> skip
                    fi;
                    if
                    :: SOL1 && !ok && cr == 0 && out[sid] ->
                        out[sid] = 0; /* Solution 1: consume the outstanding notification */
                        ok = 1
                    :: else -> skip
                    fi;
                    if
                    :: ok ->
                        printf("MSC: S: conn=%d sid=%d accepts cred(%d) as the device (conn 0: the device's, 1: the attacker's)\n",
                               a, sid, cr);
                        /* P1: the default nonce authenticates nobody (by default) */
                        assert(cr != 0 || SOL1);
                        /* P2: only on a nonce the server issued */
                        assert(cr == 0 || issuedS(cr));
                        /* P3: each nonce authenticates at most one session */
                        assert(cr == 0 || cr > accD);
                        if
                        :: cr != 0 -> accD = cr
                        :: else -> skip
                        fi;
                        sauth[i] = 1;
                        if
                        :: sres[i] -> out[sid] = 0 /* the notification is used up either way */
                        :: else -> skip
                        fi;
                        freshS(x);
                        cn_cur = x; /* persisted before the answer leaves */
                        cn_pend = 0;
                        distrust = 0;
                        siss[i] = x;
                        if
                        :: a -> asid = sid
                        :: else -> skip
                        fi;
                        reply(a, sid, soutn[i], C_212, x, 0)
                    :: else ->
                        sfail[i]++;
                        if
                        :: sfail[i] >= 2 ->
                            sph[i] = 2 /* second failure: session over */
                        :: else ->
                            freshS(x);
                            cn_pend = x; /* cn_cur unchanged */
                            reply(a, sid, NONE, C_401, x, 0)
                        fi
                    fi
                :: else ->
                    /* the authenticated peer goes on on its own connection */
                    if
                    :: co == C_401 && ch != NONE -> /* our Cred refused: retry on its nonce */
                        ssfail[i]++;
                        if
                        :: ssfail[i] >= 2 -> sph[i] = 2
                        :: else ->
                            soutn[i] = ch;
                            reply(a, sid, ch, C_200, siss[i], 0)
                        fi
                    :: co == C_200 && ch != NONE -> /* we are authenticated: new server nonce */
                        sn = ch;
                        sph[i] = 2;
                        rp = (sres[i] && ROTATE);
                        printf("MSC: S: conn=%d sid=%d session complete, sn=%d, Replace of the secret=%d\n",
                               a, sid, ch, rp);
                        /* P4: no secret rotation reaches the attacker */
                        assert(!(rp && a));
                        /* P5: no (resync) session completes with the attacker as the device */
                        assert(!a);
                        if
                        :: sid == ns -> lastdone = 1
                        :: else -> skip
                        fi;
                        reply(a, sid, NONE, C_END, NONE, rp)
                    :: else -> skip
                    fi
                fi
            fi;
            knowD = knowD & LIVE_D;
            /* forget what no longer matters: sessions that are over, and the
             * locals (they would only split states) */
            if
            :: sph[i] == 2 -> sres[i] = 0; sauth[i] = 0; sfail[i] = 0; ssfail[i] = 0;
                soutn[i] = 0; siss[i] = 0
            :: else -> skip
            fi;
            k = 0; co = 0; sid = 0; cr = 0; ch = 0; i = 0; x = 0; rp = 0; a = 0; ok = 0
        }
    :: atomic { !calm && ns < NPRE -> notify(0) }
    :: atomic { !calm && ns < NPRE -> notify(1) }
    :: atomic { timeout && ns < NNOT -> /* resync policy: the last one went unanswered */
        notify(!lastdone) }
    :: atomic { timeout && ns >= NNOT ->
        /* P7 (recovery, bounded): all is quiet, the attacker stopped, the
         * faults are over and the server used its NPOST notifications: a
         * session from one of them completed with both sides authenticated */
        printf("MSC: end: recovered=%d\n", okc);
        assert(okc);
        break }
    od
}

/* the device's session state, once it has no session */
inline dclear() {
    if
    :: dsid == 0 -> dres = 0; dme = 0; dsrv = 0; dsent = 0; dtries = 0; dsfail = 0; dcalm = 0
    :: else -> skip
    fi
}

proctype Device() {
    mtype k, co;
    byte sid, cr, ch, x, rc, rch;
    bit rp, a, go, res, bad, retry;
end:
    do
    :: toD?k, sid, cr, co, ch, rp, a ->
        d_step {
            rc = C_NONE;
            rch = NONE;
            retry = 0;
            bad = 0;
            if
            :: k == P0 ->
                /* the same session id twice starts one session */
                go = 0;
                if
                :: sid == dlast -> skip
                :: sid != dlast && cr != 0 && (cr == sn_cur || cr == sn_pend) -> go = 1; res = 0
                :: sid != dlast && cr == 0 -> go = 1; res = 1 /* verified on the default nonce only */
                :: else -> skip                /* digest fails: ignored */
                fi;
                if
                :: go ->
                    dsid = sid;
                    dlast = sid;
                    dres = res;
                    dme = 0;
                    dsrv = 0;
                    dsent = 0;
                    dtries = 1;
                    dsfail = 0;
                    dcalm = p0calm[sid] && !a;
                    x = (res -> 0 : cn);
                    printf("MSC: D: sid=%d package #1 cred(%d), resync mode=%d\n", sid, x, res);
                    send(toS, CLI, sid, x, C_NONE, NONE, 0, 0)
                :: else -> skip
                fi
            :: k == SRV && dsid != 0 && sid == dsid ->
                /* the server's Cred */
                if
                :: dsrv || (cr == NONE && co != C_212) -> skip
                :: !dsrv && cr != NONE && ((cr != 0 && (cr == sn_cur || cr == sn_pend)) || (SOL1 && dres && cr == 0)) ->
                    knowS = knowS | BIT(cr);
                    printf("MSC: D: sid=%d accepts the server's cred(%d), injected=%d\n", sid, cr, a);
                    /* P1: never on the default nonce (by default) */
                    assert(cr != 0 || SOL1);
                    /* P2: only on a nonce the device issued */
                    assert(cr == 0 || issuedD(cr));
                    /* P3: each nonce authenticates at most one session */
                    assert(cr == 0 || cr > accS);
                    /* P6: the attacker never authenticates as the server */
                    assert(!a);
                    if
                    :: cr != 0 -> accS = cr
                    :: else -> skip
                    fi;
                    dsrv = 1
                :: else ->
                    if
                    :: cr != NONE -> knowS = knowS | BIT(cr)
                    :: else -> skip
                    fi;
                    dsfail++;
                    bad = 1
                fi;
                /* the server's verdict on our Cred */
                if
                :: co == C_212 ->
                    dme = 1;
                    if
                    :: dsrv && ch != NONE -> cn = ch /* stored only from an authenticated server */
                    :: else -> skip
                    fi
                :: co == C_200 && dsrv && ch != NONE -> cn = ch
                :: co == C_401 && !dme && ch != NONE ->
                    if
                    :: dtries >= 2 -> dsid = 0 /* second failure: give up */
                    :: else -> dtries++; retry = 1
                    fi
                :: co == C_END && dme && dsrv && dsent ->
                    printf("MSC: D: sid=%d session complete, new secret=%d\n", sid, rp);
                    if
                    :: rp -> drotated = 1
                    :: else -> skip
                    fi;
                    if
                    :: dcalm && !a -> okc = 1;
                        /* after recovery both sides agree on both nonces */
                        assert(cn == cn_cur && sn_cur == sn)
                    :: else -> skip
                    fi;
                    dsid = 0
                :: else -> skip
                fi;
                if
                :: bad && dsfail >= 2 -> dsid = 0 /* the server failed twice */
                :: else -> skip
                fi;
                /* our next message: a retry of our Cred, and our verdict on the
                 * server's Cred (401 + Chal, or 200 + Chal once it passed) */
                if
                :: dsid != 0 ->
                    if
                    :: bad -> freshD(x); sn_pend = x; rc = C_401; rch = x
                    :: !bad && dsrv && !dsent ->
                        freshD(x); sn_cur = x; sn_pend = 0; dsent = 1; rc = C_200; rch = x
                    :: else -> skip
                    fi;
                    if
                    :: retry || rc != C_NONE ->
                        x = (retry -> ch : NONE);
                        printf("MSC: D: sid=%d sends cred(%d), status %e + Chal(%d)\n", sid, x, rc, rch);
                        send(toS, CLI, sid, x, rc, rch, 0, 0)
                    :: else -> skip
                    fi
                :: else -> skip
                fi
            :: else -> skip
            fi;
            knowS = knowS & LIVE_S;
            dclear();
            k = 0; co = 0; sid = 0; cr = 0; ch = 0; x = 0; rc = 0; rch = 0;
            rp = 0; a = 0; go = 0; res = 0; bad = 0; retry = 0
        }
    od
}

/* Faults: the device loses its nonces; the server store is rolled back. */
proctype Faults() {
    do
    :: atomic { !lost ->
        lost = 1;
        printf("MSC: FAULT: the device lost its nonces\n");
        cn = 0; sn_cur = 0; sn_pend = 0; dsid = 0;
        dclear();
        knowS = knowS & LIVE_S }
    :: atomic { !restored && (RESTORE_ACTIVE || stopped) ->
        printf("MSC: FAULT: the server store rolled back to cn_cur=%d cn_pend=%d sn=%d\n",
               B_CN, B_PEND, B_SN);
        cn_cur = B_CN; cn_pend = B_PEND; sn = B_SN; restored = 1;
        /* the rollback re-opens the provisioned nonce: P3 counts from here */
        accD = B_CN - 1;
        distrust = RESTORE_SAFE }
    :: break
    od;
    fdone = 1
}

inline pick_sid(s) {
    if
    :: ns >= 1 -> s = 1
    :: ns >= 2 -> s = 2
    :: ns >= 3 -> s = 3
    :: ns >= 4 -> s = 4
    :: ns >= 5 -> s = 5
    :: ns >= 6 -> s = 6
    fi
}

/* any recorded Cred value, or NONE */
inline pick_cred(know, c) {
    c = 0;
    do
    :: c < MAXN -> c++
    :: (know >> c) & 1 -> break
    :: c == MAXN -> c = NONE; break
    od
}

proctype Attacker() {
    byte s, c;
    do
    :: atomic { inj < MAXINJ && ns >= 1 && nfull(toS) -> /* fake client: its own session at S */
        inj++;
        pick_sid(s);
        pick_cred(knowD, c);
        printf("MSC: A: fake client, sid=%d, replays cred(%d)\n", s, c);
        toS!CLI, s, c, C_NONE, NONE, 0, 1;
        s = 0; c = 0 }
    :: atomic { inj < MAXINJ && ns >= 1 && nfull(toD) -> /* replay a package #0 */
        inj++;
        pick_sid(s);
        printf("MSC: A: replays package #0 sid=%d\n", s);
        toD!P0, s, p0n[s], C_NONE, NONE, 0, 1;
        s = 0 }
    :: atomic { inj < MAXINJ && dsid != 0 && !dsrv && nfull(toD) -> /* fake server, before the device authenticated S */
        inj++;
        pick_cred(knowS, c);
        if
        :: printf("MSC: A: fake server, sid=%d 212 + Chal(J) cred(%d)\n", dsid, c);
           toD!SRV, dsid, c, C_212, J, 0, 1
        :: printf("MSC: A: fake server, sid=%d 401 + Chal(J)\n", dsid);
           toD!SRV, dsid, NONE, C_401, J, 0, 1
        fi;
        c = 0 }
    :: atomic { asid != 0 && nfull(toS) -> /* go on in a session S accepted (an attack) */
        printf("MSC: A: sid=%d 200 + Chal(J) as the device\n", asid);
        toS!CLI, asid, NONE, C_200, J, 0, 1;
        asid = 0 }
    :: atomic { drops < MAXDROP && nempty(toS) -> drops++; toS?_, _, _, _, _, _, _;
        printf("MSC: A: drops a message to S\n") }
    :: atomic { drops < MAXDROP && nempty(toD) -> drops++; toD?_, _, _, _, _, _, _;
        printf("MSC: A: drops a message to D\n") }
    :: break
    od;
    stopped = 1;
    printf("MSC: A: stops\n")
}

init {
    atomic {
        run Server();
        run Device();
        run Faults();
        run Attacker()
    }
}

/* Recovery: once the attacker stopped and the faults ended, a session
 * completes with both sides authenticated (checked with weak fairness). */
ltl recover { <> okc }
