#!/usr/bin/env python3
"""Idle sockets against a running gateway: opens N connections that send nothing, reports the
gateway process's RSS per socket, whether /healthz still answers, and how many the server has
closed after WAIT seconds. Usage: python3 bench/idle.py PID PORT N [WAIT]. Bounded: N sockets,
one request, WAIT seconds."""
import socket, sys, time, subprocess, os
pid=int(sys.argv[1]); port=int(sys.argv[2]); n=int(sys.argv[3])
def rss(): 
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS"): return int(l.split()[1])
before=rss(); socks=[]
for i in range(n):
    s=socket.socket(); s.setblocking(True); s.connect(("127.0.0.1",port)); socks.append(s)
time.sleep(1.5)
during=rss()
print(f"rss before {before} KiB, with {n} idle sockets {during} KiB: {(during-before)/n:.1f} KiB per socket")
# is the gateway still serving?
t=time.time()
out=subprocess.run(["curl","-s","-o","/dev/null","-w","%{http_code}","--max-time","5",f"http://127.0.0.1:{port}/healthz"],capture_output=True,text=True).stdout
print(f"healthz {out} in {1000*(time.time()-t):.0f} ms")
time.sleep(float(sys.argv[4]) if len(sys.argv)>4 else 0)
closed=0
for s in socks:
    s.settimeout(0.01)
    try:
        if s.recv(1)==b"": closed+=1
    except socket.timeout: pass
    except OSError: closed+=1
print(f"closed by the server after the wait: {closed}/{n}; rss {rss()} KiB")
