package server

// IdleConns is how many of s's connections the cap counts as idle: the
// server has reported them so (http.Server.ConnState) and would close the
// oldest for room. Tests wait on it because a client sees its answer
// before the server marks the connection idle.
func IdleConns(s *Server) int { return s.capped.idleConns() }
