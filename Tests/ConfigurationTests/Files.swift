import Platform

func readFile(_ path: String) throws -> [UInt8] { try Files.read(path) }
